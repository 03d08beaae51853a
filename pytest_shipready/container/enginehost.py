"""What to tell the user when no Docker engine answers: one message naming what failed,
the DOCKER_HOST tried and how to fix it.

Pure: no docker, no pytest. The engine adapter passes the host it tried and the text of
docker-py's exception (whose useful part, the OS error, is buried in a nested repr).
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import urllib.parse
from collections.abc import Mapping
from pathlib import Path

DEFAULT_HOST = "unix:///var/run/docker.sock"
CONTEXT_ENV = "PYTEST_SHIPREADY_DOCKER_CONTEXT"  # set when DOCKER_HOST came from a context


def context_host(environ: Mapping[str, str], home: Path) -> tuple[str, str] | None:
    """The engine of the active ``docker context`` as the docker CLI picks it, as
    (host, context name); None when DOCKER_HOST is set or the context is the default.
    docker-py ignores contexts while the CLI (and testcontainers) honour them: resolving
    it once here makes the build and every check reach the same engine."""
    if environ.get("DOCKER_HOST"):
        return None
    config_dir = Path(environ.get("DOCKER_CONFIG") or home / ".docker")
    name = environ.get("DOCKER_CONTEXT", "")
    if not name:
        try:
            name = str(json.loads((config_dir / "config.json").read_text(
                encoding="utf-8")).get("currentContext") or "")
        except (OSError, ValueError, AttributeError):
            return None
    if not name or name == "default":
        return None
    meta = config_dir / "contexts" / "meta" / hashlib.sha256(name.encode()).hexdigest() \
        / "meta.json"
    try:
        data = json.loads(meta.read_text(encoding="utf-8"))
        host = data["Endpoints"]["docker"]["Host"]
    except (OSError, ValueError, KeyError, TypeError):
        return None
    return (str(host), name) if host else None

def context_tls(environ: Mapping[str, str], home: Path, name: str) -> tuple[str, bool] | None:
    """The TLS material of docker context ``name`` (``docker context create --docker
    host=tcp://...,ca=...,cert=...,key=...`` keeps it in contexts/tls/<hash>/docker as
    ca.pem, cert.pem and key.pem), as (DOCKER_CERT_PATH, verify); None without any.
    Exported with the context's host, so that docker-py, testcontainers and a BuildKit
    CLI speak TLS to it as the docker CLI does."""
    config_dir = Path(environ.get("DOCKER_CONFIG") or home / ".docker")
    digest = hashlib.sha256(name.encode()).hexdigest()
    tls = config_dir / "contexts" / "tls" / digest / "docker"
    if not any((tls / f).is_file() for f in ("ca.pem", "cert.pem", "key.pem")):
        return None
    skip = False
    try:
        meta = json.loads((config_dir / "contexts" / "meta" / digest / "meta.json")
                          .read_text(encoding="utf-8"))
        skip = bool(meta["Endpoints"]["docker"].get("SkipTLSVerify"))
    except (OSError, ValueError, KeyError, TypeError, AttributeError):
        pass
    return str(tls), not skip

# "[Errno 111] Connection refused" or "FileNotFoundError(2, 'No such file or directory')"
_ERRNO = re.compile(r"\[Errno (\d+)\] ([^\"')\]]+)|\w+Error\((\d+), '([^']+)'\)")


def describe_host(environ_host: str | None) -> str:
    """The host docker-py tries, and where that came from."""
    if environ_host and os.environ.get(CONTEXT_ENV):
        return f"{environ_host} (from docker context {os.environ[CONTEXT_ENV]!r})"
    if environ_host:
        return f"{environ_host} (from DOCKER_HOST)"
    return f"{DEFAULT_HOST} (the default; DOCKER_HOST is not set)"


def cause(detail: str) -> str:
    """The OS-level reason inside docker-py's message, else its first line."""
    m = _ERRNO.search(detail)
    if m:
        number, text = (m.group(1), m.group(2)) if m.group(1) else (m.group(3), m.group(4))
        return f"{text.strip()} (errno {number})"
    first = detail.strip().splitlines()[0] if detail.strip() else "no answer"
    return first[:300]


def advice(host: str, reason: str) -> str:
    """How to fix it, for the cause at hand."""
    socket = host.removeprefix("unix://") if host.startswith("unix://") else ""
    if "install paramiko" in reason.lower() and host.startswith("ssh://"):
        return ("docker-py's ssh:// transport needs paramiko: pip install "
                "'pytest-shipready[ssh]' (or paramiko) in this environment")
    if host.startswith("ssh://") and ("known_hosts" in reason or "verification" in reason
                                      or "Authentication" in reason
                                      or "Permission denied" in reason):
        url = urllib.parse.urlparse(host)
        target = f"{url.username}@{url.hostname}" if url.username else str(url.hostname)
        port = f"-p {url.port} " if url.port else ""
        return (f"`ssh {port}{target} docker version` must work in the same shell without "
                "a prompt: add the host's key to "
                "~/.ssh/known_hosts and make your key available (~/.ssh/config "
                "IdentityFile, ssh-agent)")
    if "No such file" in reason and socket:
        what = f"there is no socket at {socket}: Docker is not running on this machine, " \
            "or listens elsewhere"
    elif "refused" in reason and host.startswith(("tcp://", "http://", "https://")):
        what = "nothing listens at that address: the remote engine is down, or the " \
            "address, port or tunnel is wrong"
    elif "refused" in reason:
        what = "nothing listens there: the engine is stopped"
    elif "Permission denied" in reason:
        what = "this user may not use the socket (add it to the docker group)"
    elif "timed out" in reason.lower() or "timeout" in reason.lower():
        what = "the engine does not answer in time"
    else:
        what = "the engine cannot be used"
    start = "Start that engine" if host.startswith(("tcp://", "ssh://", "http")) else \
        "Start Docker (e.g. `sudo systemctl start docker`)"
    return (f"{what}. {start}, or set DOCKER_HOST to a running engine ({DEFAULT_HOST} or "
            "tcp://HOST:2375); `docker info` must work in the same shell")


def unreachable(environ_host: str | None, detail: str) -> str:
    """The whole message: what failed, the host tried (and from where), the cause, the
    fix."""
    host = environ_host or DEFAULT_HOST
    reason = cause(detail)
    return (f"cannot reach a Docker engine at {describe_host(environ_host)}: {reason}; "
            f"{advice(host, reason)}")


def lost(environ_host: str | None, what: str, during: str) -> str:
    """One line for each docker item once the engine stops answering mid-run: what
    failed, the host, what to do; and that the next run removes what is left."""
    return (f"lost the Docker engine at {describe_host(environ_host)} during {during}: "
            f"{what}. Check the engine (`docker info` in the same shell), then run again; "
            "what this run created is removed by the next run on this host")


def slow_call(environ_host: str | None, what: str, during: str) -> str:
    """A Docker call that got no answer in time while the engine still answers pings."""
    return (f"a Docker call of {during} got {what} from the engine at "
            f"{describe_host(environ_host)}, which still answers: the engine is "
            "overloaded; raise [tool.shipready] engine_timeout or relieve the engine")


def not_removed(what: list[str], why: str, session: str) -> str:
    """The cleanup's one line when the engine cannot remove what this run created."""
    listed = ", ".join(what) if what else "this run's containers and images"
    return (f"could not remove {listed} ({why}); the next run on this host removes "
            "them when it reaches the engine, or now: docker rm -f $(docker ps -aq "
            f"--filter label=io.pytest-shipready.session={session}), then docker rmi "
            f"$(docker images -q --filter label=io.pytest-shipready.session={session})")


_LOOPBACK = re.compile(r"^(localhost|127\.\d+\.\d+\.\d+|::1|\[::1\])$", re.I)


def published_host(docker_host: str | None, override: str = "") -> tuple[str, str]:
    """(host, bind): where the test process reaches a port the engine publishes, and
    the engine host's address to publish it on. As testcontainers: the override
    (TESTCONTAINERS_HOST_OVERRIDE), else the host named in DOCKER_HOST (``tcp://``,
    ``ssh://``, ``http(s)://``), else this machine. Unlike testcontainers, a unix socket
    seen from inside a container does not mean "the default gateway": the engine may
    run in this very container (as on CI machines that start their own); a socket
    mounted from the host needs the override. Published on 127.0.0.1 when that host is
    a loopback name, else on every interface of the engine host (its loopback is out of
    the test process's reach)."""
    host = override.strip()
    if not host and docker_host and not docker_host.startswith(("unix:", "npipe:", "fd:")):
        try:
            host = urllib.parse.urlparse(docker_host).hostname or ""
        except ValueError:
            host = ""
    if not host or _LOOPBACK.match(host):  # published on IPv4's loopback: asked there
        return "127.0.0.1", "127.0.0.1"
    return host, "0.0.0.0"


def route_of(environ_host: str | None, route: str) -> str:
    """A probe failure's tail: the route taken and the engine, so that a remote-engine
    problem reads as one ("... probed with docker exec of python3 in the container, on
    the engine at tcp://docker:2375 (from DOCKER_HOST)")."""
    return f"probed {route}, on the engine at {describe_host(environ_host)}"
