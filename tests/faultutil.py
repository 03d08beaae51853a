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
import tempfile
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
    # Bytecode in a cache of its own (conftest.py sets the prefix), never beside the
    # sample project's files, whose tree the fault tests compare before and after.
    env.pop("PYTHONDONTWRITEBYTECODE", None)
    env.update(PYTHONPYCACHEPREFIX=os.environ.get("PYTHONPYCACHEPREFIX", "")
               or str(Path(tempfile.gettempdir()) / "pytest-shipready-tests-pycache"),
               TESTCONTAINERS_RYUK_DISABLED="true", PYTHONUNBUFFERED="1")
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


@dataclass(frozen=True)
class Peak:
    """The peak resident memory of a run, in kB, each process's own: the high-water mark
    of its own address space (``VmHWM``), sampled every :data:`SAMPLE_EVERY` s."""

    own_kb: int  # the measured process itself
    child_kb: int  # the largest of its descendants (the docker CLI of a BuildKit build...)
    child: str  # that descendant's command line
    wait4_kb: int  # wait4(2)'s ru_maxrss, for comparison: see :func:`measure`

    def __str__(self) -> str:
        return (f"own peak {self.own_kb / 1000:.0f} MB, largest child {self.child_kb / 1000:.0f}"
                f" MB ({self.child or 'none seen'}), wait4 ru_maxrss "
                f"{self.wait4_kb / 1000:.0f} MB")


SAMPLE_EVERY = 0.05  # s


def _own_hwm(pid: int) -> tuple[int, str] | None:
    """A process's VmHWM (kB) and command line; None once it has no memory (a zombie)."""
    try:
        status = Path(f"/proc/{pid}/status").read_text()
        cmd = Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode(
            "utf-8", "replace").strip()
    except OSError:
        return None
    for line in status.splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]), cmd
    return None


def _descendants(pid: int) -> list[int]:
    """Every process below ``pid`` (children started by any of its threads)."""
    found: list[int] = []
    todo = [pid]
    while todo:
        parent = todo.pop()
        with contextlib.suppress(OSError):
            for task in os.listdir(f"/proc/{parent}/task"):
                with contextlib.suppress(OSError):
                    kids = [int(k) for k in
                            Path(f"/proc/{parent}/task/{task}/children").read_text().split()]
                    found += kids
                    todo += kids
    return found


def measure(proc: subprocess.Popen[Any], timeout: float) -> tuple[int, Peak]:
    """Wait for ``proc`` (killing its process group after ``timeout`` s): its exit code
    and its :class:`Peak`.

    Not wait4(2)'s ru_maxrss: that is the maximum over the process and its waited-for
    children of ``signal->maxrss``, and exec(2) sets that to the high-water mark of the
    address space it replaces. Python starts a child with vfork(2) (as posix_spawn does),
    so that address space is the *spawning* process's: ru_maxrss reports the peak of
    whatever process started pytest (in CI, the outer ``python -m pytest`` of the whole
    suite, which an earlier test had taken to over 400 MB), not the run's. ``VmHWM`` is the
    high-water mark of the process's own address space since its exec: sampled, it misses
    at most what the last :data:`SAMPLE_EVERY` s before the exit added."""
    peaks: dict[int, tuple[int, str]] = {}
    done = threading.Event()

    def sample() -> None:
        while not done.is_set():
            own = _own_hwm(proc.pid)
            if own is not None and own[0] >= peaks.get(proc.pid, (0, ""))[0]:
                peaks[proc.pid] = own
            for pid in _descendants(proc.pid):
                seen = _own_hwm(pid)
                # A child between vfork and exec shows its parent's memory and command.
                if seen is not None and (own is None or seen[1] != own[1]) \
                        and seen[0] >= peaks.get(pid, (0, ""))[0]:
                    peaks[pid] = seen
            done.wait(SAMPLE_EVERY)

    sampler = threading.Thread(target=sample, name="peak sampler", daemon=True)
    sampler.start()
    timer = threading.Timer(timeout, lambda: os.killpg(proc.pid, signal.SIGKILL))
    timer.start()
    try:
        # Exited but not reaped (WNOWAIT): the pid cannot be reused while it is sampled.
        os.waitid(os.P_PID, proc.pid, os.WEXITED | os.WNOWAIT)
        done.set()
        sampler.join()
        _, status, usage = os.wait4(proc.pid, 0)
    finally:
        timer.cancel()
        done.set()
    proc.returncode = os.waitstatus_to_exitcode(status)
    own = peaks.pop(proc.pid, (0, ""))[0]
    child_kb, child = max(peaks.values(), default=(0, ""))
    return proc.returncode, Peak(own, child_kb, child[:100], int(usage.ru_maxrss))


def run_measured(project: Path, out: Path, *args: str, env: dict[str, str] | None = None,
                 timeout: float = 60) -> tuple[Outcome, Peak]:
    """:func:`run_shipready`, also returning the peak memory of that pytest process and
    of the processes it started (:func:`measure`)."""
    out.mkdir(parents=True, exist_ok=True)
    started = time.monotonic()
    with open(out / "stdout.txt", "w+") as stdout, open(out / "stderr.txt", "w+") as stderr:
        proc = subprocess.Popen(command(project, out, *args), cwd=project, stdout=stdout,
                                stderr=stderr, env=environment(env, out),
                                stdin=subprocess.DEVNULL, start_new_session=True)
        code, peak = measure(proc, timeout)
        stdout.seek(0)
        stderr.seek(0)
        outcome = Outcome(code, stdout.read(), stderr.read(),
                          time.monotonic() - started, out, read_results(out))
    return outcome, peak


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
