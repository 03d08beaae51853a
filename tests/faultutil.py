"""Helpers for the fault tests: small sample projects, ``pytest --shipready`` in a
subprocess with every output kept, what the run left in the engine (by the labels the
plugin put on it), a hash of the user's files, and a loopback TCP forwarder to the
engine's unix socket (a "remote" engine).

Reusable by any test: nothing here imports the plugin.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import signal
import socket
import stat
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

LABEL_PROJECT = "io.pytest-shipready.project"
DOCKER_SOCKET = "/var/run/docker.sock"
# Files that Python and pytest themselves write next to the user's (not the plugin's).
TREE_SKIP = frozenset({"__pycache__", ".pytest_cache"})

# Short budgets for sample projects: verdicts in seconds, not the defaults' minutes.
FAST_SMOKE = """
[tool.shipready.smoke]
ready_timeout = 8
settle = 0.5
grace_period = 1
"""


# --- the user's files --------------------------------------------------------------------


def tree_hash(root: Path, skip: frozenset[str] = TREE_SKIP) -> dict[str, str]:
    """Every entry under ``root`` (relative path -> kind, mode and content digest), so
    that a write, a new file, a deletion, a chmod or a re-pointed symlink all show."""
    found: dict[str, str] = {}
    for dirpath, dirs, files in os.walk(root):
        dirs[:] = sorted(d for d in dirs if d not in skip)
        for name in sorted([*dirs, *files]):
            full = Path(dirpath) / name
            rel = full.relative_to(root).as_posix()
            st = os.lstat(full)
            mode = oct(stat.S_IMODE(st.st_mode))
            if stat.S_ISLNK(st.st_mode):
                found[rel] = f"link {mode} -> {os.readlink(full)}"
            elif stat.S_ISREG(st.st_mode):
                digest = hashlib.sha256(full.read_bytes()).hexdigest()
                found[rel] = f"file {mode} {digest}"
            elif stat.S_ISDIR(st.st_mode):
                found[rel] = f"dir {mode}"
            else:  # fifo, socket: never opened
                found[rel] = f"special {stat.S_IFMT(st.st_mode)} {mode}"
    return found


def tree_changes(before: dict[str, str], after: dict[str, str]) -> list[str]:
    """What differs between two :func:`tree_hash` results, one line per path."""
    changes = [f"removed {p}" for p in sorted(before.keys() - after.keys())]
    changes += [f"added {p}" for p in sorted(after.keys() - before.keys())]
    changes += [f"changed {p}: {before[p]} -> {after[p]}"
                for p in sorted(before.keys() & after.keys()) if before[p] != after[p]]
    return changes


@contextlib.contextmanager
def unchanged_tree(root: Path) -> Iterator[None]:
    """Assert that nothing under ``root`` changed inside the block."""
    before = tree_hash(root)
    yield
    changes = tree_changes(before, tree_hash(root))
    assert not changes, "the user's files changed:\n" + "\n".join(changes)


# --- sample projects ---------------------------------------------------------------------


def make_project(parent: Path, dockerfile: str | None, pyproject: str = FAST_SMOKE,
                 files: dict[str, str] | None = None, name: str = "fault") -> Path:
    """A small project in a new directory with a unique name (so its image repository and
    its project label are this test's alone)."""
    project = parent / f"{name}-{uuid.uuid4().hex[:8]}"
    project.mkdir(parents=True)
    if dockerfile is not None:
        (project / "Dockerfile").write_text(dockerfile)
    (project / "pyproject.toml").write_text(pyproject)
    for rel, text in (files or {}).items():
        path = project / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    return project


def project_key(project: Path) -> str:
    """The value of the plugin's project label on this project's images and containers."""
    import re

    name = re.sub(r"[^a-z0-9._-]+", "-", project.resolve().name.lower()).strip("-._")
    return f"pytest-shipready/{name or 'project'}"


# --- the engine ----------------------------------------------------------------------------


def docker(*args: str, check: bool = True, timeout: float = 60) -> str:
    env = {k: v for k, v in os.environ.items() if k != "DOCKER_HOST"}
    return subprocess.run(["docker", *args], capture_output=True, text=True, check=check,
                          timeout=timeout, env=env).stdout


LABEL_KEEP = "io.pytest-shipready.keep"


def leftovers(project: Path) -> list[str]:
    """Containers (any state) and images that carry this project's label, except the one
    image a run keeps by default ([tool.shipready.image] keep = true): a second kept
    image (the pruning failed) is a leftover too."""
    flt = f"label={LABEL_PROJECT}={project_key(project)}"
    containers = docker("ps", "-a", "--filter", flt, "--format", "container {{.ID}} "
                        "{{.Status}}").splitlines()
    images = docker("images", "--filter", flt, "--format", "image {{.ID}} "
                    "{{.Repository}}:{{.Tag}}").splitlines()
    kept = docker("images", "--filter", flt, "--filter", f"label={LABEL_KEEP}=true",
                  "--format", "image {{.ID}} {{.Repository}}:{{.Tag}}").splitlines()
    return containers + [i for i in images if i not in kept[-1:]] + kept[:-1]


def wait_no_leftovers(project: Path, timeout: float = 15) -> list[str]:
    """Leftovers of the project, polled until none (the engine removes asynchronously)."""
    deadline = time.monotonic() + timeout
    while True:
        left = leftovers(project)
        if not left or time.monotonic() > deadline:
            return left
        time.sleep(0.3)


def remove_leftovers(project: Path) -> None:
    """Remove what a failed test left with this project's label (the test still fails)."""
    flt = f"label={LABEL_PROJECT}={project_key(project)}"
    ids = docker("ps", "-aq", "--filter", flt).split()
    if ids:
        docker("rm", "-f", *ids, check=False)
    images = docker("images", "-q", "--filter", flt).split()
    if images:
        docker("rmi", "-f", *sorted(set(images)), check=False)


# --- running pytest --shipready --------------------------------------------------------------


@dataclass
class Outcome:
    returncode: int
    stdout: str
    stderr: str
    seconds: float
    out: Path  # where the reports are
    results: dict[str, dict[str, Any]] = field(default_factory=dict)

    @property
    def output(self) -> str:
        return self.stdout + self.stderr

    def status(self, node: str) -> str:
        """``node`` without the ``shipready::`` prefix: ``image::build``."""
        assert node in self.results, f"no item {node}; got {sorted(self.results)}\n" \
            + self.output[-3000:]
        return str(self.results[node]["status"])

    def summary(self, node: str) -> str:
        return str(self.results[node].get("summary", ""))

    def text(self, node: str) -> str:
        """The item's summary and findings, as one string."""
        return json.dumps(self.results[node], ensure_ascii=False)

    def reports(self) -> dict[str, str]:
        """Every report the run wrote: JSON, Markdown step summary, JUnit XML."""
        names = ("report.json", "summary.md", "junit.xml")
        return {n: (self.out / n).read_text(encoding="utf-8") for n in names
                if (self.out / n).is_file()}


def command(project: Path, out: Path, *args: str) -> list[str]:
    return [sys.executable, "-m", "pytest", "--shipready", "--shipready-offline",
            "-p", "no:cacheprovider", "-rA", f"--rootdir={project}",
            f"--shipready-report={out / 'report.json'}", f"--junitxml={out / 'junit.xml'}",
            *args]


def environment(extra: dict[str, str] | None = None, out: Path | None = None
                ) -> dict[str, str]:
    """The environment of a nested run: ours without xdist's or an outer run's markers."""
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("PYTEST_XDIST", "PYTEST_SHIPREADY"))
           and k not in ("PYTEST_ADDOPTS", "PYTEST_CURRENT_TEST")}
    env.update(PYTHONDONTWRITEBYTECODE="1", TESTCONTAINERS_RYUK_DISABLED="true",
               PYTHONUNBUFFERED="1")
    if out is not None:
        env["GITHUB_STEP_SUMMARY"] = str(out / "summary.md")
    env.update(extra or {})
    return env


def read_results(out: Path) -> dict[str, dict[str, Any]]:
    report = out / "report.json"
    if not report.is_file():
        return {}
    data = json.loads(report.read_text(encoding="utf-8"))
    return {str(r["nodeid"]).removeprefix("shipready::"): r for r in data["results"]}


def run_shipready(project: Path, out: Path, *args: str, env: dict[str, str] | None = None,
                  timeout: float = 60) -> Outcome:
    """``pytest --shipready`` on ``project`` (its cwd) in a subprocess, reports in ``out``."""
    out.mkdir(parents=True, exist_ok=True)
    started = time.monotonic()
    proc = subprocess.run(command(project, out, *args), cwd=project, capture_output=True,
                          text=True, timeout=timeout, env=environment(env, out),
                          stdin=subprocess.DEVNULL)
    return Outcome(proc.returncode, proc.stdout, proc.stderr, time.monotonic() - started,
                   out, read_results(out))


def run_measured(project: Path, out: Path, *args: str, env: dict[str, str] | None = None,
                 timeout: float = 60) -> tuple[Outcome, int]:
    """:func:`run_shipready`, also returning the peak RSS of that pytest process (and of
    any child it waited for) in kB, from wait4(2)."""
    out.mkdir(parents=True, exist_ok=True)
    started = time.monotonic()
    with open(out / "stdout.txt", "w+") as stdout, open(out / "stderr.txt", "w+") as stderr:
        proc = subprocess.Popen(command(project, out, *args), cwd=project, stdout=stdout,
                                stderr=stderr, env=environment(env, out),
                                stdin=subprocess.DEVNULL, start_new_session=True)
        timer = threading.Timer(timeout, lambda: os.killpg(proc.pid, signal.SIGKILL))
        timer.start()
        try:
            _, status, usage = os.wait4(proc.pid, 0)
        finally:
            timer.cancel()
        proc.returncode = os.waitstatus_to_exitcode(status)
        stdout.seek(0)
        stderr.seek(0)
        outcome = Outcome(proc.returncode, stdout.read(), stderr.read(),
                          time.monotonic() - started, out, read_results(out))
    return outcome, int(usage.ru_maxrss)


def start_shipready(project: Path, out: Path, *args: str,
                    env: dict[str, str] | None = None) -> subprocess.Popen[str]:
    """The same run, in the background (to interrupt or kill it)."""
    out.mkdir(parents=True, exist_ok=True)
    return subprocess.Popen(command(project, out, *args), cwd=project,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                            env=environment(env, out), stdin=subprocess.DEVNULL,
                            start_new_session=True)


def wait_for(predicate: Any, proc: subprocess.Popen[str] | None, timeout: float,
             what: str) -> None:
    """Poll ``predicate()`` until true; fail (killing ``proc``) when it does not come."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return
        if proc is not None and proc.poll() is not None:
            raise AssertionError(f"pytest ended ({proc.returncode}) before {what}:\n"
                                 + (proc.stdout.read() if proc.stdout else "")[-3000:])
        time.sleep(0.2)
    if proc is not None:
        os.killpg(proc.pid, signal.SIGKILL)
    raise AssertionError(f"timed out waiting for {what}")


def running_containers(project: Path) -> list[str]:
    flt = f"label={LABEL_PROJECT}={project_key(project)}"
    return docker("ps", "-q", "--filter", flt).split()


# --- a remote engine: loopback TCP in front of the unix socket -----------------------------


class ForwarderProcess:
    """The :class:`Forwarder` in a process of its own (``python faultutil.py forward``),
    so that it can be stopped with SIGSTOP: the engine then stalls, connections stay open
    (the kernel still completes new ones) and no byte comes back. Listens on 127.0.0.1
    only; always killed at the end (SIGKILL ends a stopped process too)."""

    def __init__(self, target: str = DOCKER_SOCKET) -> None:
        self.target = target
        self.proc: subprocess.Popen[str] | None = None
        self.port = 0

    @property
    def url(self) -> str:
        return f"tcp://127.0.0.1:{self.port}"

    def __enter__(self) -> ForwarderProcess:
        self.proc = subprocess.Popen([sys.executable, __file__, "forward", self.target],
                                     stdout=subprocess.PIPE, text=True,
                                     stdin=subprocess.DEVNULL)
        assert self.proc.stdout is not None
        line = self.proc.stdout.readline()
        self.port = int(line.strip())
        return self

    def stall(self) -> None:
        assert self.proc is not None
        os.kill(self.proc.pid, signal.SIGSTOP)

    def __exit__(self, *exc: object) -> None:
        if self.proc is not None:
            with contextlib.suppress(ProcessLookupError):
                self.proc.kill()
            self.proc.wait(timeout=10)


class Forwarder:
    """Listens on 127.0.0.1:<free port> and relays each connection, both ways, to the
    engine's unix socket: the same dockerd reached as ``tcp://127.0.0.1:PORT``. Relays
    raw bytes, so hijacked connections (exec, attach) and streamed builds work too."""

    def __init__(self, target: str = DOCKER_SOCKET) -> None:
        self.target = target
        self.server = socket.create_server(("127.0.0.1", 0))
        self.port: int = self.server.getsockname()[1]
        self.connections = 0
        self._stop = threading.Event()
        self._threads: list[threading.Thread] = []
        self._sockets: list[socket.socket] = []
        self._lock = threading.Lock()

    @property
    def url(self) -> str:
        return f"tcp://127.0.0.1:{self.port}"

    def __enter__(self) -> Forwarder:
        self._spawn(self._accept)
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self.server.close()
        with self._lock:
            for s in self._sockets:
                with contextlib.suppress(OSError):
                    s.close()
        for t in self._threads:
            t.join(timeout=5)

    def _spawn(self, target: Any, *args: Any) -> None:
        t = threading.Thread(target=target, args=args, daemon=True)
        with self._lock:
            self._threads.append(t)
        t.start()

    def _accept(self) -> None:
        self.server.settimeout(0.2)
        while not self._stop.is_set():
            try:
                client, _ = self.server.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            upstream = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            try:
                upstream.connect(self.target)
            except OSError:
                client.close()
                continue
            with self._lock:
                self.connections += 1
                self._sockets += [client, upstream]
            self._spawn(self._pipe, client, upstream)
            self._spawn(self._pipe, upstream, client)

    def _pipe(self, src: socket.socket, dst: socket.socket) -> None:
        try:
            while True:
                data = src.recv(65536)
                if not data:
                    break
                dst.sendall(data)
        except OSError:
            pass
        with contextlib.suppress(OSError):
            dst.shutdown(socket.SHUT_WR)  # pass the half-close on


def _forward_main(target: str) -> None:
    """``python faultutil.py forward SOCKET``: print the port, relay until killed."""
    with Forwarder(target) as forwarder:
        print(forwarder.port, flush=True)
        threading.Event().wait()


if __name__ == "__main__" and sys.argv[1:2] == ["forward"]:
    _forward_main(sys.argv[2] if len(sys.argv) > 2 else DOCKER_SOCKET)
