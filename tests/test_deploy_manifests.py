"""Deployment manifests against the image (SR600-SR607), as users run them: the example
service with Kubernetes manifests beside it, against the real engine. One manifest agrees
with the image (READY); one Deployment per disagreement gets its own named FAIL.
"""

from __future__ import annotations

import json
import subprocess
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

pytestmark = pytest.mark.docker



def run(pytester: pytest.Pytester, project: Path, *args: str
        ) -> tuple[pytest.RunResult, dict[str, dict[str, Any]]]:
    report = project.parent / f"{project.name}.json"
    result = pytester.runpytest_subprocess(
        "--shipready-only", "-p", "no:randomly", "-p", "no:cacheprovider", "-rA",
        f"--rootdir={project}", f"--shipready-project={project}", "-c",
        str(project / "pyproject.toml"), f"--shipready-report={report}", *args,
        timeout=600)
    doc = json.loads(report.read_text())
    return result, {r["nodeid"]: r for r in doc["results"]}


def _left(project: Path) -> list[str]:
    flt = f"label=io.pytest-shipready.project=pytest-shipready/{project.name}"
    return subprocess.run(["docker", "ps", "-aq", "--filter", flt], capture_output=True,
                          text=True, timeout=60).stdout.split()


def test_a_manifest_that_agrees_with_its_image_is_ready(
        pytester: pytest.Pytester, sample: Callable[[str], Path]) -> None:
    project = sample("deploy-agrees")
    result, by_node = run(pytester, project)
    out = result.stdout.str()
    assert "READY" in out and "NOT READY" not in out, out
    deploy = {node.split("::")[-1]: r for node, r in by_node.items()
              if node.startswith("shipready::deploy::")}
    assert {name: r["status"] for name, r in deploy.items()} == {
        "manifests": "passed", "ports": "passed", "probes": "passed",
        "environment": "passed", "command": "skipped", "security-context": "passed",
        "grace-period": "passed", "immutable-image": "passed"}, deploy
    assert "k8s/app.yaml: Deployment/service container web" in deploy["manifests"]["summary"]
    assert "the app listens on 8000" in deploy["ports"]["summary"]
    assert "readiness probe GET /health on port http answered 200" in \
        deploy["probes"]["summary"]
    assert "terminationGracePeriodSeconds 30 s covers" in deploy["grace-period"]["summary"]
    assert "APP_MODE (a value)" in deploy["environment"]["summary"]
    security = deploy["security-context"]["summary"]
    assert "runAsNonRoot holds for USER app with runAsUser 10001" in security
    assert "SR310 ran with them" in security
    assert "1 by digest" in deploy["immutable-image"]["summary"]
    # The report and the SBOM list the manifests checked.
    report = json.loads((project.parent / f"{project.name}.json").read_text())
    assert report["manifests"] == [{"path": "k8s/app.yaml", "kind": "kubernetes",
                                    "containers": ["Deployment/service container web"]}]
    import jsonschema

    from pytest_shipready import report as report_mod

    jsonschema.validate(report, json.loads(report_mod.SCHEMA_FILE.read_text()))
    bom = json.loads((project.parent / f"{project.name}.cdx.json").read_text())
    assert {"name": "pytest-shipready:deployed-by",
            "value": "k8s/app.yaml: Deployment/service container web"} in \
        bom["metadata"]["component"]["properties"]
    hardened = by_node["shipready::smoke::hardened-ready"]
    assert "as k8s/app.yaml: Deployment/service container web sets them" in \
        hardened["summary"]
    assert "uid 10001:0" in hardened["summary"]
    assert _left(project) == []


def test_each_disagreement_is_its_own_named_failure(
        pytester: pytest.Pytester, sample: Callable[[str], Path]) -> None:
    project = sample("deploy-disagrees")
    result, by_node = run(pytester, project)
    out = result.stdout.str()
    assert "NOT READY" in out, out

    def item(deployment: str, check: str) -> dict[str, Any]:
        return by_node[f"shipready::deploy::k8s/deployments.yaml::Deployment/{deployment}"
                       f"::{check}"]

    failed = sorted(node.removeprefix("shipready::deploy::").removeprefix(
        "k8s/deployments.yaml::Deployment/") for node, r in by_node.items()
        if node.startswith("shipready::deploy::") and r["status"] == "failed")
    assert failed == ["command::command", "env::environment", "grace::grace-period",
                      "immutable-image", "nonroot::security-context", "ports::ports",
                      "probes::probes"], failed

    ports = item("ports", "ports")["findings"][0]["message"]
    assert "containerPort 8080: the app does not listen on port 8080 (it listens on " \
           "8000)" in ports
    probes = item("probes", "probes")["findings"][0]["message"]
    assert "readiness probe GET /healthz on port 8000 fails in the smoke container: " \
           "answered 404" in probes
    grace = item("grace", "grace-period")["findings"][0]
    assert "preStop 5 s + shutdown" in grace["message"]
    assert "terminationGracePeriodSeconds: " in grace["hint"]
    env = item("env", "environment")["findings"][0]["message"]
    assert env.startswith("APP_MODE is needed (the smoke test sets it")
    command = item("command", "command")
    assert "python -m app.missing" in command["summary"]
    assert "No module named app.missing" in command["findings"][0]["message"]
    nonroot = item("nonroot", "security-context")["findings"][0]["message"]
    assert "the image's USER is the name 'app'" in nonroot
    latest = by_node["shipready::deploy::immutable-image"]["findings"]
    assert [f["message"].split(":")[0] for f in latest] == ["Deployment/latest container "
                                                            "latest"]
    # The agreeing parts of the same Deployments pass: one FAIL per fault.
    assert item("grace", "ports")["status"] == "passed"
    assert item("ports", "probes")["status"] == "skipped"  # it declares none
    # SR310 ran with the defaults, which a container without restrictions shares: what
    # the manifest could add is said for each such container.
    assert "the manifest could add readOnlyRootFilesystem: true" in \
        item("grace", "security-context")["summary"]
    assert _left(project) == []


def test_a_read_only_root_the_app_cannot_run_under_fails_its_security_context(
        pytester: pytest.Pytester, sample: Callable[[str], Path]) -> None:
    project = sample("deploy-readonly")
    _, by_node = run(pytester, project)
    security = by_node["shipready::deploy::k8s/app.yaml::Deployment/service::"
                       "security-context"]
    assert security["status"] == "failed", security
    message = security["findings"][0]["message"]
    assert message.startswith("under the manifest's settings (readOnlyRootFilesystem, "
                              "runAsUser 10001) the image does not start")
    assert "/srv/state/started" in message
    assert by_node["shipready::smoke::ready"]["status"] == "passed"
    assert _left(project) == []


def test_hardened_run_beside_a_manifest_that_sets_nothing_says_whose_settings(
        pytester: pytest.Pytester, sample: Callable[[str], Path]) -> None:
    # Shape of example-voting-app's vote Deployment (fourth validation pass): no
    # securityContext. SR310 ran under [tool.shipready.hardened]'s defaults; it said
    # "as k8s/app.yaml: Deployment/service container web sets them".
    project = sample("deploy-plain")
    _result, by_node = run(pytester, project, "-k", "hardened or security-context")
    hardened = by_node["shipready::smoke::hardened-ready"]
    assert hardened["status"] == "passed", hardened
    assert "sets them" not in hardened["summary"], hardened["summary"]
    assert ("[tool.shipready.hardened]'s defaults (k8s/app.yaml: Deployment/service "
            "container web sets none of these)") in hardened["summary"]
    assert _left(project) == []
