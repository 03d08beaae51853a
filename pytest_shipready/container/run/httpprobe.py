"""The HTTP probe that runs inside the engine, next to the container it asks.

Pure: the probe's program (a few lines of the standard library, for whatever Python the
image has, 3.6 on), the argv that runs it, and the reading of what it printed. The route
(which interpreter, in which container) is :mod:`.probe`'s business.

The probe connects to the container's own address on its network, as a peer or a port
mapping does (a server bound to 127.0.0.1 inside its container is unreachable from
outside it, and so fails here too), with ``http.client``: never through a proxy, whatever
HTTP_PROXY says in the container or in the test process.
"""

from __future__ import annotations

from dataclasses import dataclass

MARK = b"SHIPREADY-PROBE "

# argv: host port timeout cap path... ; for each path, one header line and the body:
#   "SHIPREADY-PROBE <i> <status> <length> <truncated>\n" + body
#   "SHIPREADY-PROBE <i> ERR <length>\n" + "<ExceptionName>: <message>"
PROGRAM = """\
import http.client, sys
host, port, timeout, cap = sys.argv[1], int(sys.argv[2]), float(sys.argv[3]), int(sys.argv[4])
out = getattr(sys.stdout, "buffer", sys.stdout)
for i, path in enumerate(sys.argv[5:]):
    try:
        conn = http.client.HTTPConnection(host, port, timeout=timeout)
        conn.request("GET", path, headers={"User-Agent": "pytest-shipready-probe"})
        response = conn.getresponse()
        body = response.read(cap)
        more = 1 if len(body) == cap and response.read(1) else 0
        conn.close()
        head = "%d %d %d" % (response.status, len(body), more)
    except Exception as exc:
        body = ("%s: %s" % (type(exc).__name__, exc)).encode("utf-8", "replace")
        head = "ERR %d" % len(body)
    out.write(("SHIPREADY-PROBE %d %s\\n" % (i, head)).encode())
    out.write(body)
    out.flush()
"""


@dataclass(frozen=True)
class Answer:
    """One request's outcome: a status and body, or ``error`` (what the probe's socket
    said: "ConnectionRefusedError: [Errno 111] Connection refused")."""

    status: int | None
    body: bytes = b""
    error: str = ""
    truncated: bool = False


def argv(python: str, host: str, port: int, paths: list[str], timeout: float,
         cap: int) -> list[str]:
    """How to run the probe with ``python``: isolated (``-I``: no PYTHON* variables, no
    working directory on sys.path, where an app's own ``http`` package could shadow the
    standard library) and without site-packages (``-S``: faster to start)."""
    return [python, "-I", "-S", "-c", PROGRAM, host, str(port), f"{timeout:g}", str(cap),
            *paths]


def parse(output: bytes, count: int) -> list[Answer] | None:
    """The ``count`` answers the probe printed, or None when its output is not the
    probe's (the interpreter did not run it, or the engine lost the output)."""
    answers: list[Answer] = []
    rest = output
    for index in range(count):
        start = rest.find(MARK)
        if start < 0:
            return None
        end = rest.find(b"\n", start)
        if end < 0:
            return None
        words = rest[start + len(MARK):end].decode("ascii", "replace").split()
        try:
            if len(words) == 3 and words[1] == "ERR" and int(words[0]) == index:
                length = int(words[2])
                text = rest[end + 1:end + 1 + length].decode("utf-8", "replace")
                answers.append(Answer(None, error=text or "no answer"))
            elif len(words) == 4 and int(words[0]) == index:
                length = int(words[2])
                body = rest[end + 1:end + 1 + length]
                if len(body) != length:
                    return None
                answers.append(Answer(int(words[1]), body, truncated=words[3] == "1"))
            else:
                return None
        except ValueError:
            return None
        rest = rest[end + 1 + length:]
    return answers


def missing_interpreter(code: int | None, output: str) -> bool:
    """Whether an exec failed because the interpreter is not there (or not runnable):
    the engine's 126/127 ("executable file not found"), or a shell's 127."""
    text = output.lower()
    return code in (126, 127) or "executable file not found" in text or \
        "no such file or directory" in text or "unknown option" in text
