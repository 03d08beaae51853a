"""Static Dockerfile hygiene checks, SR201-SR206: no build, no engine, just the text.

Each check takes a parsed :class:`~pytest_shipready.dockerfile.Dockerfile` (and plain
settings) and returns a :class:`~pytest_shipready.findings.CheckResult`. Multi-stage files
are judged by the stage that ships (the last one, or the configured target) and the
stages it is built on. Pure: no pytest, no docker.
"""

from __future__ import annotations

import dataclasses
import fnmatch
import posixpath
import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path

from packaging.requirements import InvalidRequirement, Requirement
from packaging.utils import canonicalize_name

from ..checks import CheckResult, Finding, plural
from ..config import Settings
from ..locks import discover, pipcompile
from ..secrets import REDACTED_VALUE, SHAPES, holds_credentials, secret_file_reason, secret_reason
from . import ignore as dockerignore
from . import parser, scope
from .installs import BOOTSTRAP, InstallStep, install_steps
from .parser import Dockerfile, Stage

# --- loading ---------------------------------------------------------------------------


def load(path: Path, display: str, build_args: dict[str, str] | None = None) -> Dockerfile:
    """Read and parse; an unreadable file gives a Dockerfile whose problems say why."""
    try:
        text = path.read_bytes().decode("utf-8")
    except OSError as exc:
        return _broken(display, f"cannot read the Dockerfile: {exc.strerror or exc}")
    except UnicodeDecodeError as exc:
        return _broken(display, f"not UTF-8 text (byte {exc.start})")
    return parser.parse(text, display, build_args)


def _broken(display: str, message: str) -> Dockerfile:
    return Dockerfile(display, {}, "\\", (), {}, (), (parser.Problem(None, message),))


def problems(df: Dockerfile, target: str | None) -> list[Finding]:
    """What makes the file unusable for the other checks (what Docker would reject too)."""
    found = [Finding(p.message, df.path, p.line,
                     "Fix the Dockerfile so that `docker build` accepts it.")
             for p in df.problems]
    if not found and target and df.stage(target) is None:
        names = ", ".join(repr(s.name) for s in df.stages if s.name) or "none"
        found.append(Finding(
            f"target stage {target!r} is not in the Dockerfile (named stages: {names})",
            df.path, None, "Fix [tool.shipready.image] target or name the stage "
            "with FROM <image> AS <name>."))
    return found


def _stage(df: Dockerfile, target: str | None) -> Stage:
    stage = df.target(target)
    assert stage is not None, "problems() is checked first"
    return stage


def _shipped(df: Dockerfile, target: str | None) -> str:
    stage = _stage(df, target)
    return "the final stage" if not target else f"target stage {stage.name!r}"


# --- SR201 base-pinned ------------------------------------------------------------------


@dataclass(frozen=True)
class _BaseRef:
    image: str
    raw: str
    line: int
    how: str  # "FROM" or "COPY --from"
    unresolved: tuple[str, ...] = ()


def _external_refs(df: Dockerfile) -> list[_BaseRef]:
    refs: list[_BaseRef] = []
    for stage in df.stages:
        if stage.external:
            refs.append(_BaseRef(stage.base, stage.base_raw, stage.line, "FROM",
                                 stage.unresolved))
        for ins in stage.instructions:
            sources: list[str] = []
            if ins.keyword in ("COPY", "ADD"):
                sources = ins.flag_values("from")
            elif ins.keyword == "RUN":
                sources = [parser.mount_options(m).get("from", "")
                           for m in ins.flag_values("mount")]
            for source in sources:
                if not source or df.stage(source) is not None:
                    continue  # an earlier stage, by name or index
                image, unresolved = parser.expand(source, dict(df.global_args),
                                                      df.escape)
                refs.append(_BaseRef(image, source, ins.line, f"{ins.keyword} --from",
                                     unresolved))
    return refs


def check_base_pinned(df: Dockerfile, pin: str = "tag") -> CheckResult:
    findings: list[Finding] = []
    refs = _external_refs(df)
    for ref in refs:
        where = f"{ref.how} {ref.raw}"
        if ref.unresolved:
            names = ", ".join(dict.fromkeys(ref.unresolved))
            findings.append(Finding(
                f"{where}: {names} has no default value, so the image cannot be checked "
                "(and a build without --build-arg fails)", df.path, ref.line,
                f"Give it a pinned default: ARG {ref.unresolved[0]}=<image>:<version> "
                "before the first FROM."))
            continue
        image = parser.parse_image(ref.image)
        if image.digest:
            continue
        if image.tag is None:
            findings.append(Finding(
                f"{where} has no tag, which means {image.repository}:latest", df.path,
                ref.line, f"Name a version: {image.repository}:<version>, or pin the "
                "digest with @sha256:..."))
        elif image.tag.lower() == "latest":
            findings.append(Finding(
                f"{where} uses :latest, which moves to a new image without notice", df.path,
                ref.line, f"Name a version: {image.repository}:<version>, or pin the "
                "digest with @sha256:..."))
        elif pin == "digest":
            findings.append(Finding(
                f"{where} is pinned by tag only; [tool.shipready.dockerfile] pin = "
                "\"digest\" asks for a digest", df.path, ref.line,
                f"Append the digest: {ref.image}@sha256:<digest> (docker buildx imagetools "
                f"inspect {ref.image} shows it)."))
    n = len(refs)
    digests = sum(1 for r in refs
                  if not r.unresolved and parser.parse_image(r.image).digest)
    if n == 0:
        ok = "no external base image (scratch or earlier stages only)"
    elif digests == n:
        ok = f"{plural(n, 'base image')} pinned by digest"
    else:
        ok = f"{plural(n, 'base image')} pinned by tag"
        if pin == "tag":
            ok += " (a digest would pin them fully)"
    return CheckResult.from_findings(
        "SR201", findings, ok, f"{len(findings)} of {plural(n, 'base image')} not pinned",
        images=n)


# --- SR202 non-root-user ----------------------------------------------------------------


def _is_root(user: str) -> bool:
    name = user.split(":", 1)[0].strip()
    return name in ("", "root", "0")


# Programs that run a command as another user: (name, how the user is given).
_DROPS = ("gosu", "su-exec", "setpriv", "chroot", "runuser", "s6-setuidgid", "chpst",
          "setuidgid")


def dropped_to(words: tuple[str, ...]) -> str | None:
    """The user a command drops to before running its program (``gosu app gunicorn``,
    ``su-exec 1000:1000 ...``, ``setpriv --reuid=1000 ...``, ``chroot --userspec=app /
    ...``, ``runuser -u app -- ...``), or None (none, or root)."""
    if not words:
        return None
    name = words[0].rsplit("/", 1)[-1]
    args = list(words[1:])
    user: str | None = None
    if name in ("gosu", "su-exec", "s6-setuidgid", "setuidgid") and args:
        user = args[0]
    elif name in ("setpriv", "chroot", "runuser", "chpst"):
        options = {"setpriv": ("--reuid",), "chroot": ("--userspec",),
                   "runuser": ("-u", "--user"), "chpst": ("-u",)}[name]
        for i, arg in enumerate(args):
            key, eq, value = arg.partition("=")
            if key in options:
                user = value if eq else (args[i + 1] if i + 1 < len(args) else None)
                break
    if user is None:
        return None
    account = user.split(":", 1)[0]
    return None if account in ("", "root", "0") else user


def _drop_in_start(df: Dockerfile, stage: Stage,
                   read: Callable[[str], str | None] | None) -> str:
    """How the start command of ``stage`` drops root before its server runs, told ("its
    start command runs `gosu app gunicorn app:app` (entrypoint.sh, line 9)"); "" when
    it does not."""
    from .command import image_command, start_steps

    found = image_command(df, stage)
    if found is None:
        return ""
    steps = start_steps(found.args, read or (lambda name: None))
    if not steps:
        return ""
    last = steps[-1]
    user = dropped_to(last.words)
    if user is None:
        return ""
    where = "" if last.where == "the command" else f" ({last.where})"
    text = last.text if len(last.text) <= 100 else last.text[:97] + "..."
    return (f"its start command runs its server as {user}: `{text}`{where}, after what "
            "needs root")


def check_non_root(df: Dockerfile, target: str | None = None,
                   read: Callable[[str], str | None] | None = None) -> CheckResult:
    """SR202. ``read``: files of the build context, to follow an entrypoint script that
    starts as root and drops privileges (gosu, su-exec, setpriv) before its server."""
    stage = _stage(df, target)
    shipped = _shipped(df, target)
    setting = df.user(stage)
    if setting is None or _is_root(setting.value):
        drop = _drop_in_start(df, stage, read)
        if drop:
            how = "no USER" if setting is None else f"USER {setting.value or '(empty)'}"
            return CheckResult.passed(
                "SR202", f"{how}: {shipped} starts as root, and {drop}; a non-root "
                "runtime (SR303 measures the uid the container's process runs as; a "
                "pod with runAsNonRoot refuses an image whose USER is root)", dropped=1)
    if setting is None:
        root = df.root(stage)
        base = root.base if root.external else "scratch"
        return CheckResult.failed("SR202", f"no USER in {shipped}: it runs as root", [Finding(
            f"{shipped} ({stage.label}, built on {base}) never sets USER, so the container "
            f"runs as {base}'s default user: root for python, debian and most official "
            "images", df.path, stage.line,
            "Add `RUN useradd --system --uid 10001 app` and `USER app` (or `USER 10001`) "
            "at the end of the stage; if the base image already runs as non-root, say so "
            "with an explicit USER.")])
    if _is_root(setting.value):
        shown = setting.value or "(empty)"
        means = ("" if setting.value.split(":", 1)[0].strip() in ("root", "0")
                 else ", which means root (uid 0)")
        return CheckResult.failed("SR202", f"{shipped} runs as root (USER {shown})", [Finding(
            f"the last USER of {shipped} is {shown}{means}; the last USER wins",
            df.path, setting.line,
            "Switch to an unprivileged user after the steps that need root: "
            "`USER app` or `USER 10001`.")])
    inherited = "" if setting.stage is stage else f", from {setting.stage.label}"
    return CheckResult.passed("SR202", f"USER {setting.value} (line {setting.line}"
                              f"{inherited})", user=setting.value)


# --- SR203 healthcheck ------------------------------------------------------------------


def check_healthcheck(df: Dockerfile, target: str | None = None, optional: bool = False,
                      probe: str | None = None, serves: str = "http",
                      worker: str = "") -> CheckResult:
    """``probe`` names a readiness probe configured elsewhere (the smoke area's).
    ``serves``: what the service speaks, for the HEALTHCHECK the fix proposes: "http",
    "grpc" (its dependencies have grpcio), or "none" (no port: a worker; ``worker`` is
    its start command)."""
    stage = _stage(df, target)
    shipped = _shipped(df, target)
    hc = df.healthcheck(stage)
    alternative = probe or ("healthcheck_optional = true" if optional else None)
    if hc is not None and not hc.none:
        command = hc.command if isinstance(hc.command, str) else " ".join(hc.command)
        return CheckResult.passed("SR203", f"HEALTHCHECK {command} (line {hc.line})")
    if alternative is not None:
        what = "HEALTHCHECK NONE" if hc is not None else "no HEALTHCHECK"
        return CheckResult.skipped("SR203", f"{what}, and none required: readiness is "
                                   f"probed otherwise ({alternative})")
    if hc is not None:
        return CheckResult.failed("SR203", f"HEALTHCHECK NONE switches the health check off "
                                  f"in {shipped}", [Finding(
            "HEALTHCHECK NONE also removes a health check the base image defines",
            df.path, hc.line,
            "Replace it with `HEALTHCHECK CMD [...]`, or set [tool.shipready.dockerfile] "
            "healthcheck_optional = true when readiness is probed another way.")])
    root = df.root(stage)
    base = f" ({root.base})" if root.external else ""
    return CheckResult.failed("SR203", f"no HEALTHCHECK in {shipped}", [Finding(
        f"{shipped} ({stage.label}) declares no HEALTHCHECK; one the base image{base} may "
        "define cannot be seen without pulling it, so it does not count", df.path,
        stage.line, _healthcheck_fix(df, stage, serves, worker))])


def _healthcheck_fix(df: Dockerfile, stage: Stage, serves: str, worker: str) -> str:
    optional = ("set [tool.shipready.dockerfile] healthcheck_optional = true when "
                "readiness is probed another way.")
    if serves == "grpc":
        ports = [p for p, proto in df.exposed(stage) if proto == "tcp"]
        port = ports[0] if ports else 50051
        tcp = ("HEALTHCHECK --interval=10s --timeout=5s --start-period=10s --retries=3 "
               'CMD ["python", "-c", "import socket; socket.create_connection((\'127.0.0.1\', '
               f'{port}), 3).close()"]')
        return (f"A gRPC server answers no HTTP, so an HTTP check never passes. Ask its "
                "health service (grpc.health.v1, registered in the server): with the "
                "grpc_health_probe binary (github.com/grpc-ecosystem/grpc-health-probe) in "
                f'the image, `HEALTHCHECK CMD ["grpc_health_probe", "-addr=127.0.0.1:{port}"]`'
                "; or, needing nothing but Python's standard library, check that the port "
                f"accepts connections: `{tcp}`. Or {optional}")
    if serves == "none":
        app = re.search(r"(?:-A|--app)[= ](\S+)", worker)
        celery = (f"for Celery, `HEALTHCHECK CMD celery -A {app.group(1) if app else 'APP'} "
                  "inspect ping -d celery@$HOSTNAME` (it answers once the worker is "
                  "connected to its broker); " if "celery" in worker else "")
        return ("It serves no port (a worker), so an HTTP check cannot apply: ask the "
                f"worker itself: {celery}or have it touch a file as it works "
                "(`/tmp/heartbeat`) and check the file's age: `HEALTHCHECK --interval=30s "
                'CMD ["python", "-c", "import os, sys, time; sys.exit(time.time() - '
                "os.path.getmtime('/tmp/heartbeat') > 120)\"]`. Or " + optional)
    return (f"Add one that needs nothing but Python's standard library, e.g. "
            f"`{suggested_healthcheck(df, stage)}` (point it at your health route), or "
            + optional)


def suggested_healthcheck(df: Dockerfile, stage: Stage, path: str = "/health") -> str:
    """A HEALTHCHECK that works as given in any image with Python: an HTTP GET of the
    first EXPOSEd port (8000 without one) that fails on an error status."""
    ports = [p for p, proto in df.exposed(stage) if proto == "tcp"]
    url = f"http://127.0.0.1:{ports[0] if ports else 8000}{path}"
    code = f"import urllib.request; urllib.request.urlopen('{url}', timeout=3)"
    return ('HEALTHCHECK --interval=10s --timeout=5s --start-period=10s --retries=3 '
            f'CMD ["python", "-c", "{code}"]')


# --- SR204 no-secrets -------------------------------------------------------------------

URL_CREDENTIALS = next(s for s in SHAPES if s.name == "credentials in a URL")

def _declared_names(df: Dockerfile) -> Iterable[tuple[str, str, str, int]]:
    """(keyword, name, default value, line) for every ARG and ENV, global ARGs included."""
    for ins in df.instructions:
        if ins.keyword == "ARG":
            for name, value in parser.arg_pairs(ins, df.escape):
                yield "ARG", name, value or "", ins.line
        elif ins.keyword == "ENV":
            for name, value in parser.env_pairs(ins, df.escape):
                yield "ENV", name, value, ins.line


def _url_credentials(value: str) -> bool:
    """A URL carrying a password (``https://user:pw@host``), whatever the name."""
    for match in URL_CREDENTIALS.pattern.finditer(value):
        password = match.group(URL_CREDENTIALS.group)
        if password and not REDACTED_VALUE.match(password):
            return True
    return False


def check_no_secrets(df: Dockerfile, allowed: Iterable[str] = ()) -> CheckResult:
    allow = {a.upper() for a in allowed}
    findings: list[Finding] = []
    names = 0
    for keyword, name, value, line in _declared_names(df):
        names += 1
        reason = secret_reason(name)
        if name.upper() in allow:
            continue
        if reason is None and _url_credentials(value):
            reason = "its default is a URL with credentials, user:password@"
        if reason is None:
            continue
        # Never the value: only the name and where it is.
        stays = ("build-arg values are recorded in the image history"
                 if keyword == "ARG" else "its value is stored in the image config")
        findings.append(Finding(
            f"{keyword} {name} looks like a secret ({reason}): {stays}, readable by anyone "
            "who can pull the image", df.path, line,
            "Pass build secrets with BuildKit: `RUN --mount=type=secret,id=NAME ...` and "
            "`docker build --secret id=NAME,env=NAME`; give runtime secrets to `docker run "
            "-e` or the orchestrator. Not a secret? List it in [tool.shipready.dockerfile] "
            "allowed_secret_names."))
    return CheckResult.from_findings(
        "SR204", findings, f"{plural(names, 'ARG/ENV name')}, none secret-looking",
        f"{plural(len(findings), 'secret-looking name')} in ARG/ENV", names=names,
        verified=names, nothing="no ARG or ENV in the Dockerfile: nothing can hold a secret")


# --- SR205 lock-used --------------------------------------------------------------------


@dataclass(frozen=True)
class KnownLock:
    """A lockfile the lockfile area knows, relative to the project (posix)."""

    path: str
    hashed: bool  # every requirement has --hash, so pip enforces hashes by itself


def _aliases(df: Dockerfile, stages: list[Stage]) -> dict[str, str]:
    """In-image file names -> context paths, from COPY/ADD and RUN --mount=type=bind."""
    out: dict[str, str] = {}
    for stage in stages:
        for ins in stage.instructions:
            if ins.keyword in ("COPY", "ADD") and ins.flag("from") is None:
                parts = list(ins.exec_form or parser.words(ins.rest, df.escape))
                if len(parts) == 2 and not parts[1].endswith("/") and parts[1] != ".":
                    out[posixpath.basename(parts[1])] = parts[0]
            if ins.keyword == "RUN":
                for mount in ins.flag_values("mount"):
                    opts = parser.mount_options(mount)
                    if opts.get("type", "bind") == "bind" and "target" in opts:
                        source = opts.get("source", opts.get("src", ""))
                        if source and opts.get("from") is None:
                            out[posixpath.basename(opts["target"])] = source
    return out


def _match_lock(arg: str, locks: list[KnownLock], aliases: dict[str, str]
                ) -> KnownLock | None:
    candidates = [arg]
    alias = aliases.get(posixpath.basename(arg))
    if alias:
        candidates.append(alias)
    for candidate in candidates:
        cleaned = posixpath.normpath(candidate).lstrip("/")
        for lock in locks:
            if cleaned == lock.path or cleaned.endswith("/" + lock.path):
                return lock
    for candidate in candidates:
        base = posixpath.basename(candidate)
        matches = [lk for lk in locks if posixpath.basename(lk.path) == base]
        if len(matches) == 1:
            return matches[0]
    return None


def _package_name(spec: str) -> str:
    try:
        return canonicalize_name(Requirement(spec).name)
    except InvalidRequirement:
        # e.g. "pip>=$PIP_MIN" with no value for the variable: the name is still there
        m = re.match(r"[A-Za-z0-9][A-Za-z0-9._-]*", spec)
        return canonicalize_name(m.group(0)) if m else spec


def _exported(steps: list[InstallStep], locks: list[KnownLock], aliases: dict[str, str]
              ) -> dict[str, tuple[KnownLock, InstallStep]]:
    """Files written by ``poetry export`` / ``uv export``: they stand for their lock."""
    out: dict[str, tuple[KnownLock, InstallStep]] = {}
    for step in steps:
        for written, source in step.exports:
            origin = _match_lock(source, locks, aliases)
            if origin is not None:
                out[posixpath.basename(written)] = (
                    KnownLock(origin.path, origin.hashed and step.exports_hashed), step)
    return out


def lock_location(df: Dockerfile, stages: list[Stage], path: str, before: int) -> str:
    """Where the build context's file ``path`` is in the image when the command on line
    ``before`` runs: the last COPY/ADD (from the context) of it, or of a directory
    holding it, before that line, or a bind mount of it on that RUN; "" when none."""
    found: tuple[int, str] = (0, "")
    wanted = posixpath.normpath(path)
    for stage in stages:
        for ins in stage.instructions:
            if ins.line > before:
                continue
            pairs: list[tuple[list[str], str]] = []
            if ins.keyword in ("COPY", "ADD") and ins.flag("from") is None:
                parts = list(ins.exec_form or parser.words(ins.rest, df.escape))
                if len(parts) >= 2:
                    pairs.append((parts[:-1], parts[-1]))
            elif ins.keyword == "RUN" and ins.end_line >= before:
                for mount in ins.flag_values("mount"):
                    opts = parser.mount_options(mount)
                    source = opts.get("source", opts.get("src", ""))
                    if opts.get("type", "bind") == "bind" and opts.get("from") is None \
                            and "target" in opts and source:
                        pairs.append(([source], opts["target"]))
            workdir = df.workdir(stage, ins.line)
            for sources, dest in pairs:
                dest = posixpath.join(workdir, dest)
                into = (dest.endswith("/") or len(sources) > 1
                        or posixpath.basename(dest) in (".", ".."))
                for source in sources:
                    src = posixpath.normpath(source.lstrip("/")) if source.strip("/") else "."
                    if src == wanted or (any(c in src for c in "*?[")
                                         and fnmatch.fnmatchcase(wanted, src)):
                        where = posixpath.join(dest, posixpath.basename(wanted)) if into \
                            else dest
                    elif src == "." or wanted.startswith(src + "/"):
                        where = posixpath.join(dest, posixpath.relpath(wanted, src))
                    else:
                        continue
                    if ins.line >= found[0]:
                        found = (ins.line, posixpath.normpath(where))
    return found[1]


@dataclass(frozen=True)
class LockInstall:
    """An install in the image from a known lock: the command, and for a file exported
    from the lock, the export command (which decides the groups and extras)."""

    lock: KnownLock
    step: InstallStep
    export: InstallStep | None = None
    # the lock's directory in the image when the selecting command runs ("" unknown)
    lock_dir: str = ""

    @property
    def selecting(self) -> InstallStep:
        return self.export or self.step


def lock_installs(df: Dockerfile, locks: list[KnownLock], target: str | None = None
                  ) -> list[LockInstall]:
    """The installs from known locks in the shipped stage and the stages it needs."""
    stages = df.needed(_stage(df, target))
    # what a shell condition keeps from running in this build is not installed
    steps = [s for s in install_steps(df, stages) if s.runs is not False]
    aliases = _aliases(df, stages)
    exported = _exported(steps, locks, aliases)
    found: list[LockInstall] = []
    for step in steps:
        if not step.installs:
            continue
        for arg in step.files:
            via = exported.get(posixpath.basename(arg))
            lock = via[0] if via is not None else _match_lock(arg, locks, aliases)
            if lock is None:
                continue
            selecting = via[1] if via is not None else step
            where = lock_location(df, stages, lock.path, selecting.line) \
                if selecting.tool == "uv" else ""
            found.append(LockInstall(lock, step, via[1] if via is not None else None,
                                     posixpath.dirname(where)))
    return found


def _add_to_lock(name: str, locks: list[KnownLock]) -> str:
    """How to add a dependency with the tool that makes the project's lock."""
    kinds = {posixpath.basename(lk.path) for lk in locks}
    if kinds == {"uv.lock"}:
        return f"Add it with `uv add {name}` (which relocks)"
    if kinds == {"poetry.lock"}:
        return f"Add it with `poetry add {name}` (which relocks)"
    return (f"Add {name} to the lock's input (requirements.in or pyproject.toml), "
            "re-compile")


def install_fix(lock: KnownLock) -> str:
    """How to install ``lock`` in the image, as commands that exist and that SR205
    recognises: Poetry and uv install their own locks (pip cannot read them)."""
    name = posixpath.basename(lock.path)
    where = posixpath.dirname(lock.path)
    if name == "poetry.lock":
        into = f" --directory {where}" if where else ""
        return ("Install it with Poetry, after copying pyproject.toml and poetry.lock: "
                f"`RUN pip install poetry && POETRY_VIRTUALENVS_CREATE=false poetry "
                f"install{into} --only main --no-root` (Poetry checks the lock's hashes); "
                "or export it for pip: `RUN pip install poetry poetry-plugin-export && "
                f"poetry export{into} --only main -f requirements.txt -o "
                "requirements.lock.txt && pip install --no-deps --require-hashes -r "
                "requirements.lock.txt`.")
    if name == "uv.lock":
        into = f" --project {where}" if where else ""
        return ("Install it with uv, after copying pyproject.toml and uv.lock: "
                f"`RUN pip install uv && uv sync{into} --locked --no-dev` (uv checks the "
                "lock's hashes; add --no-install-project for the dependencies alone).")
    return f"Install dependencies with `pip install --no-deps --require-hashes -r {lock.path}`."


# The installers themselves may be installed by name: they install the lock. So may the
# packaging tools (installs.BOOTSTRAP: pip, setuptools, wheel), as SR402 allows them.
INSTALLERS = ("pip", "poetry", "uv", "pipx", "poetry-plugin-export", *BOOTSTRAP)


def check_lock_used(df: Dockerfile, locks: list[KnownLock], target: str | None = None,
                    allowed: Iterable[str] = (),
                    read: Callable[[str], str | None] | None = None) -> CheckResult:
    """SR205. ``read``: files of the build context, to follow the shell scripts a RUN
    executes (``RUN ./install.sh``)."""
    stage = _stage(df, target)
    shipped = _shipped(df, target)
    if not locks:
        return CheckResult.skipped("SR205", "no lockfile is known to check the install "
                                   "against (see the lockfile checks, SR100)")
    stages = df.needed(stage)
    by_stage = [(st, step) for st in stages for step in install_steps(df, [st], read)]
    every = [step for _, step in by_stage]
    # Installs a shell condition keeps from running in this build are not judged; those
    # whose condition cannot be decided are, saying so.
    steps = [s for s in every if s.runs is not False]
    note = not_run_note(every)
    # What a builder stage installs by name and the image does not copy over (a build
    # backend, setuptools_scm) is not in the image: said, not judged.
    kept_out = {id(step): st for st, step in by_stage
                if step.packages and not _installed_in_image(df, target, st, step)}
    aliases = _aliases(df, stages)
    allow = {canonicalize_name(a) for a in (*allowed, *INSTALLERS)}
    known = ", ".join(lk.path for lk in locks)
    findings: list[Finding] = []
    used: list[tuple[KnownLock, InstallStep]] = []
    builder_only: list[str] = []
    exported = _exported(steps, locks, aliases)
    for step in steps:
        before = len(findings)
        if step.problem:
            findings.append(Finding(step.problem, df.path, step.line,
                                    "Install exactly what the lock says: add --locked "
                                    "(or --frozen)."))
        for arg in step.files:
            via = exported.get(posixpath.basename(arg))
            lock = via[0] if via else _match_lock(arg, locks, aliases)
            if lock is None:
                findings.append(Finding(
                    f"`{step.text}` installs from {arg}, which is not a known lockfile "
                    f"({known})", df.path, step.line,
                    "Install from the lockfile, or add this file to [tool.shipready.lockfile] "
                    "paths if it is one (then its checks run too)."))
                continue
            used.append((lock, step))
            if step.hashes_enforced or lock.hashed:
                continue
            export = via[1] if via else None
            if export is not None and not export.exports_hashed:
                # The lock has hashes; the export dropped them (--without-hashes).
                tool = ("poetry install --only main" if export.tool == "poetry"
                        else "uv sync --locked --no-dev")
                findings.append(Finding(
                    f"`{step.text}` {'installs' if step.installs else 'fetches'} "
                    f"{arg}, which `{export.text}` (line "
                    f"{export.line}) writes without hashes, so {step.tool} checks none "
                    f"of {lock.path}'s hashes", df.path, step.line,
                    "Drop --without-hashes / --no-hashes from the export (the lock has "
                    f"the hashes) and add --require-hashes; or install with `{tool}`."))
            else:
                findings.append(Finding(
                    f"`{step.text}` does not enforce hashes: neither --require-hashes nor "
                    f"hashes in {lock.path}", df.path, step.line,
                    "Add --require-hashes and generate the lock with pip-compile "
                    "--generate-hashes."))
        if step.indirect and canonicalize_name(
                parser.words(step.text, df.escape)[0].rsplit("/", 1)[-1]) not in allow:
            findings.append(Finding(
                f"`{step.text}` installs {step.indirect}: outside the lock", df.path,
                step.line, f"{step.indirect_fix}; or allow it in [tool.shipready."
                "dockerfile] allowed_installs."))
        for spec in step.packages:
            name = _package_name(spec)
            if name in allow:
                continue
            if id(step) in kept_out:
                builder_only.append(f"{name} ({kept_out[id(step)].label}, line {step.line})")
                continue
            findings.append(Finding(
                f"`{step.text}` installs {name} outside the lock", df.path, step.line,
                f"{_add_to_lock(name, locks)} and drop this install; or allow it in "
                "[tool.shipready.dockerfile] allowed_installs."))
        if step.via:  # in a script the RUN executes
            findings[before:] = [dataclasses.replace(f, message=f"{f.message} ({step.via})")
                                 for f in findings[before:]]
        if step.runs is None:  # say so, never guess
            findings[before:] = [dataclasses.replace(
                f, message=f"{f.message} (if it runs: {step.condition})")
                for f in findings[before:]]
    if builder_only:
        note += ("; installed by name only in a stage the image does not copy them from: "
                 + ", ".join(dict.fromkeys(builder_only)))
    if not used:
        what = (f"{plural(len(steps), 'install command')} found, none from"
                if steps else "no install command installs from")
        findings.insert(0, Finding(
            f"{what} the lockfile ({known}) in {shipped} or the stages it is built on",
            df.path, stage.line, install_fix(locks[0])))
    if findings:
        summary = (f"{plural(len(findings), 'problem')} with the dependency install"
                   if used else "the lockfile is not installed")
        extras = [f for f in findings if "outside the lock" in f.message]
        chosen = [f for f in extras if ": outside the lock" in f.message]  # indirect
        if extras and used:
            named = len(extras) - len(chosen)
            summary = ", ".join(part for part in (
                f"{plural(named, 'package')} installed outside the lock" if named else "",
                f"{plural(len(chosen), 'installer')} choosing "
                f"{'its' if len(chosen) == 1 else 'their'} own packages outside the lock"
                if chosen else "") if part)
            if len(findings) > len(extras):
                summary += f" (and {plural(len(findings) - len(extras), 'other problem')})"
        return CheckResult.failed("SR205", summary + note, findings)
    lock, step = used[0]
    return CheckResult.passed("SR205", f"{step.tool} installs {lock.path} with hashes "
                              f"(line {step.line}){note}", installs=len(steps))


def _installed_in_image(df: Dockerfile, target: str | None, stage: Stage,
                        step: InstallStep) -> bool:
    """What ``step`` installs reaches the image that ships: its stage ships, or a
    ``COPY --from`` takes (part of) where it installs. Taken to reach when where it
    installs cannot be told (Poetry, uv, a variable)."""
    if stage in scope.shipped(df, target):
        return True
    if step.tool != "pip":
        return True
    words = parser.words(step.text, df.escape)
    where = scope.install_location(words, df.variables(stage, step.line),
                                   df.workdir(stage, step.line))
    return not where or scope.reaches(df, target, stage, where, part=True) or any(
        scope.reaches(df, target, stage, w, part=True)
        for w in ("/usr/local", "/usr/lib") if where == "/usr")


def not_run_note(steps: Iterable[InstallStep]) -> str:
    """"; not run in this build: `pip install -r dev.txt` (line 9), as `[ "$DEVEL" =
    "yes" ]` (line 9) is false: DEVEL=no (ARG default, line 3)" for the installs a shell
    condition keeps from running, and "; taken to run: ..." for those whose condition
    cannot be decided; empty when there is none."""
    steps = list(steps)
    out = ""
    skipped = [s for s in steps if s.runs is False]
    if skipped:
        told = [f"`{' '.join(s.text.split())}` (line {s.line}), as {s.condition}"
                for s in skipped]
        out += "; not run in this build: " + "; ".join(dict.fromkeys(told))
    # An install whose condition cannot be decided is judged as if it ran: said so.
    undecided = [s for s in steps if s.runs is None and (s.files or s.packages)]
    if undecided:
        told = [f"`{' '.join(s.text.split())}` (line {s.line}), as {s.condition}"
                for s in undecided]
        out += "; taken to run: " + "; ".join(dict.fromkeys(told))
    return out


# --- SR206 dockerignore -----------------------------------------------------------------


def find_virtualenvs(context: Path, depth: int = 2) -> list[str]:
    """Directories under ``context`` holding a pyvenv.cfg, relative, with /."""
    found: list[str] = []

    def walk(directory: Path, level: int) -> None:
        try:
            children = sorted(p for p in directory.iterdir() if p.is_dir())
        except OSError:
            return
        for child in children:
            if child.name in (".git", "node_modules", "__pycache__"):
                continue
            if (child / "pyvenv.cfg").is_file():
                found.append(child.relative_to(context).as_posix())
            elif level < depth:
                walk(child, level + 1)

    walk(context, 1)
    return found


_WALK_LIMIT = 20000  # files looked at under one path, and in the whole context


def _sent_under(context: Path, path: str, patterns: list[dockerignore.Pattern]
                ) -> str | None:
    """A file under ``path`` (or ``path`` itself, a file) that the build is sent, or None
    when all of it is left out. A directory left out with its contents (``.git``), or
    whose every file is left out (``.git/*``), is left out."""
    full = context / path
    if not full.is_dir() or full.is_symlink():
        return None if dockerignore.excluded(patterns, path)[0] else path
    if dockerignore.excluded(patterns, path)[0] and all(p.exclude for p in patterns):
        return None
    for rel in dockerignore.context_files(full, [], limit=_WALK_LIMIT):
        if not dockerignore.excluded(patterns, f"{path}/{rel}")[0]:
            return f"{path}/{rel}"
    return None


_REWRITTEN_BY_PYTEST = (".pytest_cache",)


def _secret_files(context: Path, patterns: list[dockerignore.Pattern], reported: list[str]
                  ) -> list[tuple[str, str]]:
    """(path, why) of the secret-looking files the build is sent, outside the paths
    already ``reported`` (virtualenvs hold certificates of their own)."""
    found: list[tuple[str, str]] = []
    skip = frozenset({".git", "node_modules", "__pycache__", "site-packages",
                      *(posixpath.basename(p) for p in reported)})
    for rel in dockerignore.context_files(context, patterns, skip, limit=_WALK_LIMIT):
        name = posixpath.basename(rel)
        reason = secret_file_reason(name)
        if reason is None:
            continue
        try:
            text = (context / rel).read_text(encoding="utf-8", errors="replace")[:100_000]
        except OSError:
            text = ""
        if holds_credentials(name, text):
            found.append((rel, reason))
    return found


def check_dockerignore(context: Path, dockerfile_path: Path, required: Iterable[str],
                       context_display: str = ".", df: Dockerfile | None = None,
                       written: Iterable[tuple[str, str]] = (),
                       target: str | None = None) -> CheckResult:
    """SR206: what exists in the context and should not reach the builder is left out:
    the ``required`` paths and virtualenvs found (a path that is not there needs no
    pattern), and, when the Dockerfile copies from the context, secret-looking files.

    Multi-stage builds are judged by what reaches the image that ships (``target``, else
    the last stage; see :mod:`.scope`): a path that only a builder stage takes (a `.git`
    setuptools_scm reads, test fixtures) is a note, not a failure whose fix would break
    that stage."""
    ignore, own = dockerignore.ignore_file(context, dockerfile_path)
    note = " (BuildKit only: the classic builder reads .dockerignore)" if own else ""
    if ignore is None:
        shown = (f"{context_display}/.dockerignore" if context_display not in (".", "")
                 else ".dockerignore")
        patterns: list[dockerignore.Pattern] = []
    else:
        shown = ignore.name if own else (
            f"{context_display}/.dockerignore" if context_display not in (".", "")
            else ".dockerignore")
        try:
            patterns = dockerignore.parse(ignore.read_text(encoding="utf-8",
                                                           errors="replace"))
        except OSError as exc:
            return CheckResult.failed("SR206", "cannot read .dockerignore", [Finding(
                f"cannot read it: {exc.strerror or exc}", shown, None,
                "Make it a readable text file.")])
    wanted = list(dict.fromkeys(posixpath.normpath(p).strip("/") for p in
                                [*required, *find_virtualenvs(context)]))
    present = [p for p in wanted if (context / p).exists() or (context / p).is_symlink()]
    absent = [p for p in wanted if p not in present]
    findings: list[Finding] = []
    sent_paths: list[str] = []
    notes: list[str] = []
    builder_only: list[str] = []  # required paths only a stage that does not ship takes
    copies = scope.context_copies(df) if df is not None else []
    into: list[scope.ContextCopy] = []  # the copies into the image of what is listed

    def taking(rel: str) -> scope.Taken:
        if df is None or not copies:
            return scope.Taken((), ())
        return scope.taken(df, target, rel, copies)

    for path in present:
        sent = _sent_under(context, path, patterns)
        if sent is None:
            continue
        took = taking(path)
        deciding = dockerignore.excluded(patterns, sent)[1]
        if took.builders and not took.shipped:
            # Only a builder stage takes it: not in the image, and leaving it out of the
            # context would break that stage if it needs it (setuptools_scm and .git).
            builder_only.append(path)
            notes.append(f"{path} is sent to the builder and taken only by "
                         f"{took.builders_told()}, not into the image that ships (a cost "
                         "in context transfer; leave it if that stage needs it)")
            continue
        sent_paths.append(path)
        into.extend(took.shipped)
        copied = (f"; {took.shipped[0].told} copies it into the image" if took.shipped
                  else "")
        # Also taken by a builder stage: narrowing the image's COPY keeps that stage whole.
        fix_more = (f" If {took.builders_told()} needs it, copy only what the image needs "
                    f"instead of {took.shipped[0].told} (e.g. `COPY src/ src/`, or `COPY "
                    "--from=` the builder's output), as .dockerignore would take it from "
                    "that stage too.") if took.shipped and took.builders else ""
        if deciding is not None and not deciding.exclude:
            findings.append(Finding(
                f"{sent} is sent to the builder: `!{deciding.text}` re-includes it{copied}",
                shown, deciding.line, f"Remove the exception or narrow it, so that "
                f"{path} stays out.{fix_more}"))
        elif ignore is not None:
            findings.append(Finding(
                f"{path} is not left out: no pattern matches it{copied}", shown, None,
                f"Add a line `{path}` to {shown}.{fix_more}"))
    secrets = _secret_files(context, patterns, present) if copies else []
    copied_secrets: list[str] = []
    builder_secrets: list[str] = []
    for rel, reason in secrets:
        took = taking(rel)
        if not took.shipped:
            if took.builders:
                builder_secrets.append(f"{rel} ({took.builders_told()})")
            continue
        copy = took.shipped[0]
        into.append(copy)
        copied_secrets.append(rel)
        deciding = dockerignore.excluded(patterns, rel)[1]
        why = (f": `!{deciding.text}` re-includes it" if deciding is not None
               and not deciding.exclude else "")
        findings.append(Finding(
            f"{rel} looks like a secret ({reason}) and is sent to the builder{why}; "
            f"{copy.told} copies it into the image", shown,
            deciding.line if why and deciding is not None else None,
            f"Add a line `{rel}` (or `**/{posixpath.basename(rel)}`) to {shown}; give "
            "the build a secret with `RUN --mount=type=secret` instead."
            + (f" If {took.builders_told()} needs it (test fixtures), copy only what the "
               f"image needs instead of {copy.told}." if took.builders else "")))
    if builder_secrets:
        notes.append(f"{plural(len(builder_secrets), 'secret-looking file')} taken only by "
                     f"a stage that does not ship: {', '.join(builder_secrets[:3])}"
                     + (" ..." if len(builder_secrets) > 3 else ""))
    # pytest's cache changes on every run (this plugin's run included): copied into the
    # image, it makes every build a new layer and a new image, and ships with it; copied
    # into a builder stage, it makes every build run that stage again from there.
    volatile_sent = [(v, _sent_under(context, v, patterns)) for v in _REWRITTEN_BY_PYTEST
                     if (context / v).is_dir()]
    for volatile, sent in volatile_sent:
        took = taking(sent) if sent is not None else scope.Taken((), ())
        if sent is None or not took.any:
            continue
        sent_paths.append(volatile)
        into.extend(took.shipped)
        what = (f"{took.shipped[0].told} copies it into the image" if took.shipped else
                f"{took.builders_told()} copies it")
        findings.append(Finding(
            f"{volatile} is sent to the builder and {what}: pytest rewrites it on every "
            "run, so every build makes a new layer"
            + (" and a new image (and the image ships it)" if took.shipped
               else " and runs that stage again from there"), shown, None,
            f"Add a line `{volatile}` to {shown}."))
    # What this run writes there (its report): judged by the patterns, whether or not an
    # earlier run left it, so that the first run says what the second would.
    for rel, option in written:
        took = taking(rel)
        if not took.any or dockerignore.excluded(patterns, rel)[0]:
            continue
        sent_paths.append(rel)
        into.extend(took.shipped)
        what = (f"{took.shipped[0].told} copies it into the image" if took.shipped else
                f"{took.builders_told()} copies it")
        findings.append(Finding(
            f"{rel} ({option}) is written into the build context and {what}: it changes "
            "on every run, so every build makes a new layer"
            + (" and a new image" if took.shipped else " and runs that stage again"),
            shown, None,
            f"Add a line `{rel}` to {shown}, or write it outside the build context."))
    if ignore is None and (sent_paths or copied_secrets):
        lines = "\n  ".join([*sent_paths, *copied_secrets])
        findings.insert(0, Finding(
            f"the build context {context} has no .dockerignore: everything in it is "
            "sent to the builder"
            + (f", and {into[0].told} copies it into the image" if into else ""), shown,
            None, f"Create {shown} with at least:\n  {lines}"))
    noted = f"; note: {'; '.join(notes)}" if notes else ""
    if ignore is None and not findings:
        checked = ", ".join(absent) if absent else ""
        return CheckResult.passed(
            "SR206", "no .dockerignore, and none is needed"
            + (f": {checked} not in the context" if checked else "")
            + (", no secret-looking file copied into the image" if copies else "")
            + noted)
    kept = [p for p in present if p not in sent_paths and p not in builder_only]
    parts = []
    if kept:
        parts.append(f"leaves out {', '.join(kept)}")
    if absent:
        parts.append(f"{', '.join(absent)} not in the context")
    if copies and not copied_secrets:
        n = len(secrets)
        parts.append("no secret-looking file copied" if not n else
                     f"{plural(n, 'secret-looking file')} sent but not copied")
    return CheckResult.from_findings(
        "SR206", findings, f"{'; '.join(parts) or 'nothing to leave out'}{note}{noted}",
        f"{plural(len(findings), 'path')} not left out of the build context{noted}")


def known_locks(settings: Settings) -> list[KnownLock]:
    """The lockfiles SR205 accepts as the install's source.

    Extension point: the Poetry/uv lockfile support adds poetry.lock and uv.lock here (with
    ``hashed=True``, as both tools verify hashes) next to its recognisers in
    :data:`pytest_shipready.dockerinstall.RECOGNISERS`.
    """
    project = settings.project
    locks: list[KnownLock] = []
    paths = discover.find_lockfiles(project, settings.config.lockfile.paths,
                                   settings.scope)
    for path in sorted(paths, key=lambda p: p.suffix != ".txt"):  # pip-compile's first
        if path.suffix != ".txt":
            # poetry install and uv sync check hashes themselves; pylock records them.
            locks.append(KnownLock(pipcompile.display_path(path, project), True))
            continue
        lock = pipcompile.load(path, project, settings.scope)
        entries = lock.data.entries
        hashed = lock.error is None and bool(entries) and all(e.hashes for e in entries)
        locks.append(KnownLock(lock.display, hashed))
    return locks


_GRPC = re.compile(r"(?mi)^\s*[\"']?grpcio(?:[\s\[=<>~!;\"',]|$)|name\s*=\s*\"grpcio\"")


def uses_grpc(texts: Iterable[str]) -> bool:
    """Whether dependency files (requirements, pyproject.toml, poetry.lock, uv.lock) name
    grpcio: the service speaks gRPC."""
    return any(_GRPC.search(text) for text in texts)
