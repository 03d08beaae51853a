"""The deploy family's pure modules: reading Kubernetes YAML, picking the containers that
run the image, image references, and the SR60x verdicts from plain observations."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest

from pytest_shipready.checks import Status
from pytest_shipready.deploy import find, judge, kube, refs

MANIFEST = """\
apiVersion: v1
kind: ConfigMap
metadata: {name: app-config}
data:
  LOG_LEVEL: info
---
apiVersion: apps/v1
kind: Deployment
metadata:
  name: web
spec:
  template:
    metadata:
      labels: {app: shop, tier: web}
    spec:
      terminationGracePeriodSeconds: 10
      securityContext:
        runAsNonRoot: true
      containers:
        - name: web
          image: ghcr.io/acme/shop:1.4.2
          args: ["gunicorn", "shop.wsgi:app"]
          ports:
            - {name: http, containerPort: 8000}
          env:
            - {name: DATABASE_URL, valueFrom: {secretKeyRef: {name: db, key: url}}}
            - {name: MODE, value: production}
          envFrom:
            - configMapRef: {name: app-config}
          readinessProbe:
            httpGet: {path: /healthz, port: http}
          livenessProbe:
            tcpSocket: {port: 8000}
          lifecycle:
            preStop:
              exec: {command: ["sh", "-c", "sleep 5"]}
          securityContext:
            readOnlyRootFilesystem: true
            capabilities: {drop: [all]}
        - name: proxy
          image: envoyproxy/envoy:v1.30
---
apiVersion: v1
kind: Service
metadata: {name: web}
spec:
  selector: {app: shop}
  ports:
    - {port: 80, targetPort: http}
---
apiVersion: batch/v1
kind: CronJob
metadata: {name: cleanup}
spec:
  jobTemplate:
    spec:
      template:
        spec:
          containers:
            - name: cleanup
              image: ghcr.io/acme/shop:latest
              command: ["python", "-m", "shop.cleanup"]
"""


@pytest.fixture
def manifests() -> kube.Manifests:
    return kube.read(MANIFEST, "k8s/app.yaml")


def test_workloads_services_and_config_are_read_with_their_lines(
        manifests: kube.Manifests) -> None:
    assert [w.title for w in manifests.workloads] == ["Deployment/web", "CronJob/cleanup"]
    web = manifests.workloads[0]
    assert web.line == 7 and web.grace_period == 10
    app = web.containers[0]
    assert app.args == ("gunicorn", "shop.wsgi:app") and app.command is None
    assert app.ports == (("http", 8000, "TCP"),)
    assert app.port_number("http") == 8000 and app.port_number("metrics") is None
    assert [p.describe() for p in app.probes] == [
        "liveness probe TCP port 8000", "readiness probe GET /healthz on port http"]
    assert app.pre_stop_sleep == 5
    sec = app.security
    assert sec.run_as_non_root is True and sec.read_only_root is True and sec.drop == ("ALL",)
    assert [(e.name, e.value, e.source) for e in app.env] == [
        ("DATABASE_URL", None, "Secret db key url"), ("MODE", "production", "")]
    assert app.env_from == ("ConfigMap app-config",)
    assert manifests.config_keys["ConfigMap app-config"] == frozenset({"LOG_LEVEL"})
    (service,) = manifests.services
    assert service.selects(web) and not service.selects(manifests.workloads[1])
    assert manifests.workloads[1].grace_period is None


def test_templates_and_broken_yaml_are_reported_not_read() -> None:
    assert kube.read("image: {{ .Values.image }}\nkind: Deployment\n",
                     "chart/templates/d.yaml").templates == ("chart/templates/d.yaml",)
    broken = kube.read("apiVersion: v1\nkind: Pod\nspec: [\n", "pod.yaml")
    assert broken.problems and broken.problems[0][0] == "pod.yaml"
    assert "line" in broken.problems[0][2]


def test_yaml_tags_that_build_objects_are_refused() -> None:
    found = kube.read("apiVersion: v1\nkind: Pod\nx: !!python/object/apply:os.system [id]\n",
                      "evil.yaml")
    assert found.problems and not found.workloads


def test_kustomize_image_overrides_decide_the_reference() -> None:
    kust = kube.read("apiVersion: kustomize.config.k8s.io/v1beta1\nkind: Kustomization\n"
                     "images:\n  - name: shop\n    newName: ghcr.io/acme/shop\n"
                     "    newTag: 2.0.0\n", "k8s/kustomization.yaml")
    dep = kube.read(MANIFEST.replace("ghcr.io/acme/shop:1.4.2", "shop"), "k8s/app.yaml")
    merged = kube.merge([kust, dep])
    picked = find.pick(merged, "ghcr.io/acme/shop", "whatever")
    assert {w.title for w, _ in picked.containers} == {"Deployment/web", "CronJob/cleanup"}


def test_the_project_image_is_picked_by_name_config_or_being_the_only_own_one(
        manifests: kube.Manifests) -> None:
    by_name = find.pick(manifests, "", "shop")
    assert [(w.title, c.name) for w, c in by_name.containers] == [
        ("Deployment/web", "web"), ("CronJob/cleanup", "cleanup")]
    only = find.pick(manifests, "", "checkout-dir")
    assert "only image" in only.how and len(only.containers) == 2
    configured = find.pick(manifests, "envoyproxy/envoy", "shop")
    assert [c.name for _, c in configured.containers] == ["proxy"]
    none = find.pick(manifests, "ghcr.io/acme/other", "shop")
    assert not none.containers and "[tool.shipready.deploy] image" in none.why_none


def test_find_skips_tool_folders_and_links_out(tmp_path: Path) -> None:
    (tmp_path / "k8s").mkdir()
    (tmp_path / "k8s" / "app.yaml").write_text(MANIFEST)
    (tmp_path / ".github").mkdir()
    (tmp_path / ".github" / "ci.yml").write_text("apiVersion: x\nkind: y\n")
    (tmp_path / "mkdocs.yml").write_text("site_name: docs\n")
    outside = tmp_path.parent / f"{tmp_path.name}-outside.yaml"
    outside.write_text("apiVersion: v1\nkind: Pod\n")
    (tmp_path / "link.yaml").symlink_to(outside)
    (tmp_path / "infra.tf").write_text('resource "x" "y" {\n  image = "shop:latest"\n}\n')
    found = find.find(tmp_path)
    assert [p.name for p in found.kubernetes] == ["app.yaml"]
    assert [p.name for p in found.terraform] == ["infra.tf"]
    assert any("link.yaml" in s for s in found.skipped)


@pytest.mark.parametrize(("text", "repo", "tag", "digest", "why"), [
    ("ghcr.io/acme/shop:1.4.2", "ghcr.io/acme/shop", "1.4.2", None, ""),
    ("localhost:5000/shop", "localhost:5000/shop", None, None, "has no tag, so it means :latest"),
    ("shop:latest", "shop", "latest", None, "is :latest"),
    ("shop@sha256:abc", "shop", None, "sha256:abc", ""),
    ("shop:latest@sha256:abc", "shop", "latest", "sha256:abc", ""),
    ("${IMAGE}", "${IMAGE}", None, None, ""),
])
def test_image_references(text: str, repo: str, tag: str | None, digest: str | None,
                          why: str) -> None:
    ref = refs.parse(text)
    assert (ref.repository, ref.tag, ref.digest, ref.mutability()) == (repo, tag, digest, why)


def test_terraform_image_strings_with_lines() -> None:
    text = ('resource "kubernetes_deployment" "x" {\n  # image = "commented:latest"\n'
            '  container {\n    image = "ghcr.io/acme/shop:latest"\n  }\n}\n'
            'container_definitions = jsonencode([{ "image": "shop:1.2" }])\n')
    assert refs.terraform_images(text) == [("ghcr.io/acme/shop:latest", 4), ("shop:1.2", 7)]


def _web(manifests: kube.Manifests) -> tuple[kube.Workload, kube.Container]:
    web = manifests.workloads[0]
    return web, web.containers[0]


def test_ports_against_what_the_app_listens_on(manifests: kube.Manifests) -> None:
    w, c = _web(manifests)
    ok = judge.ports(w, c, manifests.services, {8000: frozenset({"0.0.0.0"})})
    assert ok.status == Status.PASSED and "4 declared ports" in ok.summary
    wrong = judge.ports(w, c, manifests.services, {5000: frozenset({"0.0.0.0"})})
    assert wrong.status == Status.FAILED
    assert "does not listen on port 8000 (it listens on 5000)" in wrong.findings[0].message
    local = judge.ports(w, c, manifests.services, {8000: frozenset({"127.0.0.1"})})
    assert "127.0.0.1 only" in local.findings[0].message
    unknown = judge.ports(w, c, (), None, "no shell in the image")
    assert unknown.status == Status.SKIPPED and "no shell" in unknown.summary


def test_probes_verdicts(manifests: kube.Manifests) -> None:
    w, c = _web(manifests)
    live, ready = c.probes
    good = judge.probes(w, c, [judge.ProbeOutcome(live, True, "connected"),
                               judge.ProbeOutcome(ready, True, "answered 200")])
    assert good.status == Status.PASSED and "answered 200" in good.summary
    bad = judge.probes(w, c, [judge.ProbeOutcome(live, True, "connected"),
                              judge.ProbeOutcome(ready, False, "answered 404")])
    assert bad.status == Status.FAILED and bad.findings[0].line is not None
    assert "GET /healthz" in bad.findings[0].message


def test_grace_period_covers_pre_stop_shutdown_and_margin(manifests: kube.Manifests) -> None:
    w, c = _web(manifests)
    assert judge.grace_period(w, c, 0.3, True, 2).status == Status.PASSED
    short = judge.grace_period(w, c, 4.0, True, 2)
    assert short.status == Status.FAILED
    assert "preStop 5 s + shutdown 4.0 s" in short.findings[0].message
    assert "terminationGracePeriodSeconds: 12" in short.findings[0].hint
    assert judge.grace_period(w, c, 10, False, 2).status == Status.SKIPPED
    cron = manifests.workloads[1]
    assert "default" in judge.grace_period(cron, cron.containers[0], 1, True, 2).summary


def test_environment_needed_against_env_envfrom_and_image(manifests: kube.Manifests) -> None:
    w, c = _web(manifests)
    needed = {"DATABASE_URL": "required_env", "LOG_LEVEL": "smoke env",
              "HOME": "required_env", "SECRET_KEY": "smoke env"}
    result = judge.environment(w, c, needed, {"HOME": "/app"}, manifests.config_keys)
    assert result.status == Status.FAILED
    assert [f.message.split(" ")[0] for f in result.findings] == ["SECRET_KEY"]
    ok = judge.environment(w, c, {"DATABASE_URL": "x", "LOG_LEVEL": "y"}, {},
                           manifests.config_keys)
    assert ok.status == Status.PASSED and "Secret db key url" in ok.summary
    assert judge.environment(w, c, {}, {}, {}).status == Status.SKIPPED


def test_effective_command_follows_kubernetes_rules(manifests: kube.Manifests) -> None:
    _, web = _web(manifests)
    cron = manifests.workloads[1].containers[0]
    assert judge.effective_command(web, ["tini", "--"], ["python", "app.py"]) == (
        "tini", "--", "gunicorn", "shop.wsgi:app")
    assert judge.effective_command(cron, ["tini", "--"], ["python", "app.py"]) == (
        "python", "-m", "shop.cleanup")


@pytest.mark.parametrize(("user", "fails"), [
    ("", "runs as root"), ("root", "runs as root"), ("0:0", "runs as root"),
    ("app", "non-numeric"), ("app:app", "non-numeric"), ("10001", None), ("10001:0", None),
])
def test_run_as_non_root_against_the_image_user(manifests: kube.Manifests, user: str,
                                                fails: str | None) -> None:
    w, c = _web(manifests)
    found = judge.non_root(w, c, user)
    if fails is None:
        assert found == []
    else:
        assert len(found) == 1 and fails in found[0].message.replace("name", "non-numeric")


def test_immutable_references() -> None:
    refs_found = [judge.Reference("shop:latest", "k8s/a.yaml", 3, "Deployment/web"),
                  judge.Reference("shop@sha256:ab", "k8s/a.yaml", 9, "Job/x"),
                  judge.Reference("redis:7", "compose.yaml", 4, "compose service redis"),
                  judge.Reference("${IMAGE}", "k8s/b.yaml", 2, "Pod/p")]
    result = judge.immutable(refs_found)
    assert result.status == Status.FAILED and len(result.findings) == 1
    assert "is :latest" in result.findings[0].message
    fine = judge.immutable(refs_found[1:])
    assert fine.status == Status.PASSED
    assert fine.summary == ("2 image references pinned (1 by digest, 1 by tag); "
                            "1 placeholder filled in at deploy time, not judged")
    assert judge.immutable([]).status == Status.SKIPPED


def test_configured_manifests_outside_the_project_need_allow_outside(tmp_path: Path) -> None:
    # Shape of example-voting-app (fourth validation pass): the service is vote/, its
    # manifests are ../k8s-specifications. They were passed over without a word (SR600:
    # "no Kubernetes workload in [tool.shipready.deploy] manifests"), and
    # allow_outside_project did not let them in.
    from pytest_shipready.config import ConfigError, load

    project = tmp_path / "vote"
    project.mkdir()
    (tmp_path / "k8s").mkdir()
    (tmp_path / "k8s" / "app.yaml").write_text(MANIFEST)
    refused = find.find(project, ["../k8s"])
    assert refused.kubernetes == ()
    assert refused.skipped == ("../k8s: outside the project (set [tool.shipready] "
                               "allow_outside_project = true to read it)",)
    allowed = find.find(project, ["../k8s"], allow_outside=True)
    assert [p.name for p in allowed.kubernetes] == ["app.yaml"]
    assert find.read_all(project, allowed).files[0] == "../k8s/app.yaml"
    (project / "pyproject.toml").write_text(
        '[tool.shipready.deploy]\nmanifests = ["../k8s"]\n')
    with pytest.raises(ConfigError, match=r"\[tool.shipready.deploy\] manifests = '../k8s' "
                       r"is outside the project directory .*allow_outside_project = true"):
        load(project)
    (project / "pyproject.toml").write_text(
        '[tool.shipready]\nallow_outside_project = true\n'
        '[tool.shipready.deploy]\nmanifests = ["../k8s"]\n')
    assert load(project).config.deploy.manifests == ("../k8s",)


def test_manifests_of_a_test_rig_are_not_taken_for_the_services(tmp_path: Path) -> None:
    # Shape of merino-py (fourth validation pass): its only Kubernetes YAML is the Locust
    # load test's (tests/load/kubernetes-config/, image locust-merino built from
    # tests/load/Dockerfile). Picked as "the only image", SR601 failed the service for the
    # load generator's ports and SR603 passed with the service's shutdown.
    rig = tmp_path / "tests" / "load" / "kubernetes-config"
    rig.mkdir(parents=True)
    (rig / "locust-master.yml").write_text(MANIFEST)
    (tmp_path / "tests" / "load" / "docker-compose.yml").write_text(
        "services:\n  locust:\n    image: locust:latest\n")
    found = find.find(tmp_path)
    assert found.kubernetes == () and found.compose == ()
    assert find.pick(find.read_all(tmp_path, found), "", tmp_path.name).containers == ()
    named = find.find(tmp_path, ["tests/load/kubernetes-config"])
    assert [p.name for p in named.kubernetes] == ["locust-master.yml"]


def test_no_workload_found_says_where_it_looked(tmp_path: Path) -> None:
    # merino-py (fourth validation pass): its only YAML with apiVersion and kind is
    # Backstage's catalog-info.yaml; SR600 said "no Kubernetes workload in [tool.shipready.
    # deploy] manifests" although nothing was configured.
    from pytest_shipready.deploy import area

    (tmp_path / "catalog-info.yaml").write_text(
        "apiVersion: backstage.io/v1alpha1\nkind: Component\nmetadata: {name: x}\n")
    found = find.find(tmp_path)
    manifests = find.read_all(tmp_path, found)
    picked = find.pick(manifests, "", tmp_path.name)
    result = area._manifests(found, manifests, picked, tmp_path)
    assert result.status == Status.SKIPPED
    assert "no Kubernetes workload (Deployment, StatefulSet, Job, Pod...) in the project" \
        in result.summary
    named = area._manifests(found, manifests, picked, tmp_path, configured=True)
    assert "in [tool.shipready.deploy] manifests" in named.summary


def test_a_port_below_1024_without_net_bind_service_is_a_caveat() -> None:
    """vote binds port 80 with no capabilities: it works under Docker only because the
    engine allows unprivileged ports; the PASS says so (validation, fourth pass)."""
    low = kube.Container("web", "vote", None, None, ports=(("http", 80, "TCP"),))
    caveat = judge.low_port_caveat(low)
    assert caveat.startswith("containerPort 80 is below 1024") and "NET_BIND_SERVICE" in caveat
    kept = dataclasses.replace(low, security=kube.SecurityContext(add=("NET_BIND_SERVICE",)))
    assert judge.low_port_caveat(kept) == ""
    assert judge.low_port_caveat(kube.Container("web", "vote", None, None,
                                                ports=(("http", 8080, "TCP"),))) == ""


SKAFFOLD = """\
apiVersion: skaffold/v4beta10
kind: Config
build:
  artifacts:
  - image: emailservice
    context: src/emailservice
manifests:
  rawYaml: [./kubernetes-manifests/*.yaml]
---
apiVersion: skaffold/v4beta10
kind: Config
profiles:
- name: gcb
  build:
    artifacts:
    - image: loadgenerator
"""


def test_images_skaffold_builds_are_filled_in_at_deploy_not_untagged(tmp_path: Path) -> None:
    """microservices-demo: `image: emailservice` in the manifests skaffold deploys is
    replaced by skaffold with the built tag and digest; SR607 failed it as untagged
    (validation, fourth pass)."""
    from pytest_shipready.deploy import skaffold

    assert skaffold.artifact_images(SKAFFOLD) == {"emailservice", "loadgenerator"}
    refs_ = [judge.Reference("emailservice", "k8s/email.yaml", 3, "Deployment/emailservice"),
             judge.Reference("redis:alpine", "k8s/redis.yaml", 5, "Deployment/redis")]
    result = judge.immutable(refs_, ("../../skaffold.yaml", skaffold.artifact_images(SKAFFOLD)))
    assert result.status == Status.PASSED, result.findings
    assert "1 reference to an image ../../skaffold.yaml builds, which it fills in" \
        in result.summary
    assert judge.immutable(refs_).status == Status.FAILED  # without skaffold: untagged
    # Found in the project, or up to the git top when files outside may be read.
    top = tmp_path / "repo"
    project = top / "src" / "emailservice"
    project.mkdir(parents=True)
    (top / ".git").mkdir()
    (top / "skaffold.yaml").write_text(SKAFFOLD)
    assert skaffold.find_config(project, beyond_project=False) is None
    assert skaffold.find_config(project, beyond_project=True) == top / "skaffold.yaml"
