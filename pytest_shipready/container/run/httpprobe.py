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

import json
from dataclasses import dataclass

MARK = b"SHIPREADY-PROBE "

# One-shot: argv "host port timeout cap path..."; served: argv "--serve", then one JSON
# request a line on stdin, {"host":..., "port":..., "timeout":..., "cap":..., "paths":
# [...]}, until stdin ends. For each path, one header line and the body on stdout:
#   "SHIPREADY-PROBE <i> <status> <length> <truncated>\n" + body
#   "SHIPREADY-PROBE <i> ERR <length>\n" + "<ExceptionName>: <message>"
PROGRAM = """\
import http.client, json, sys
out = getattr(sys.stdout, "buffer", sys.stdout)
def ask(host, port, timeout, cap, paths):
    for i, path in enumerate(paths):
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
if sys.argv[1:2] == ["--serve"]:
    for line in getattr(sys.stdin, "buffer", sys.stdin):
        r = json.loads(line.decode("utf-8"))
        ask(r["host"], int(r["port"]), float(r["timeout"]), int(r["cap"]), r["paths"])
else:
    ask(sys.argv[1], int(sys.argv[2]), float(sys.argv[3]), int(sys.argv[4]), sys.argv[5:])
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


def serve_argv(python: str) -> list[str]:
    """The probe as a process that answers requests written to its stdin (one exec per
    container, however many requests: see :func:`request`)."""
    return [python, "-I", "-S", "-u", "-c", PROGRAM, "--serve"]


def request(host: str, port: int, paths: list[str], timeout: float, cap: int) -> bytes:
    """One request line for :func:`serve_argv`'s process."""
    return json.dumps({"host": host, "port": port, "timeout": timeout, "cap": cap,
                       "paths": paths}).encode() + b"\n"


def parse(output: bytes, count: int) -> list[Answer] | None:
    """The ``count`` answers the probe printed, or None when its output is not the
    probe's (the interpreter did not run it, or the engine lost the output)."""
    found = parse_prefix(output, count)
    return found[0] if found is not None else None


def parse_prefix(output: bytes | bytearray, count: int) -> tuple[list[Answer], int] | None:
    """The ``count`` answers at the start of ``output`` and how many bytes they took,
    or None while they are not all there (or it is not the probe's output). Reads by
    offsets: called again as a large body arrives, it copies nothing until it is whole."""
    answers: list[Answer] = []
    pos = 0
    for index in range(count):
        start = output.find(MARK, pos)
        if start < 0:
            return None
        end = output.find(b"\n", start)
        if end < 0:
            return None
        words = bytes(output[start + len(MARK):end]).decode("ascii", "replace").split()
        try:
            if len(words) == 3 and words[1] == "ERR" and int(words[0]) == index:
                length = int(words[2])
                if len(output) < end + 1 + length:
                    return None
                text = bytes(output[end + 1:end + 1 + length]).decode("utf-8", "replace")
                answers.append(Answer(None, error=text or "no answer"))
            elif len(words) == 4 and int(words[0]) == index:
                length = int(words[2])
                if len(output) < end + 1 + length:
                    return None
                answers.append(Answer(int(words[1]), bytes(output[end + 1:end + 1 + length]),
                                      truncated=words[3] == "1"))
            else:
                return None
        except ValueError:
            return None
        pos = end + 1 + length
    return answers, pos


def missing_interpreter(code: int | None, output: str) -> bool:
    """Whether an exec failed because the interpreter is not there (or not runnable):
    the engine's 126/127 ("executable file not found"), or a shell's 127."""
    text = output.lower()
    return code in (126, 127) or "executable file not found" in text or \
        "no such file or directory" in text or "unknown option" in text


def non_http(error: str) -> str:
    """What answered, when ``error`` (an :class:`Answer`'s) says the port answered but
    not over HTTP/1.x ("HTTP/2 frames (a gRPC or HTTP/2-only server)"); "" otherwise (a
    refused or reset connection, a timeout: nothing answered)."""
    name, _, line = error.partition(": ")
    if name != "BadStatusLine" or not line:
        return ""
    raw = line.encode("latin-1", "replace")
    if len(raw) >= 9 and raw[3] == 0x04 and raw[4] in (0, 1):  # a SETTINGS frame first
        return "HTTP/2 frames (a gRPC or HTTP/2-only server)"
    if len(raw) >= 3 and raw[0] in (0x15, 0x16) and raw[1] == 0x03:  # a TLS record
        return "a TLS record (an HTTPS or TLS-only port)"
    return f"bytes that are not an HTTP status line: {printable(line)[:60]}"


def printable(text: str) -> str:
    """``text`` with control characters escaped, for a message (a non-HTTP answer's
    bytes would otherwise reach the terminal raw)."""
    return "".join(c if c.isprintable() or c in "\n\t" else repr(c)[1:-1] for c in text)
