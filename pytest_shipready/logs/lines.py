"""Structured-log validators: is what a process wrote machine-readable, and secret-free?

Pure: imports neither pytest, docker nor structlog. Input is what a process wrote, as
bytes lines (a container's stdout and stderr, or a subprocess's output); output is one
:class:`~pytest_shipready.findings.CheckResult` per check (SR501-SR505). Nothing here
raises on odd input: bytes that are not UTF-8, binary junk, endless nesting or huge
lines become findings. Excerpts shown in failures are redacted (every secret the
secrets check knows about is replaced by ``[REDACTED]``) and truncated.

Typical use::

    analysis = analyse(lines, LogsConfig(), env={"DB_PASSWORD": "..."})
    results = [check(analysis) for check in CHECKS.values()]
"""

from __future__ import annotations

import ast
import dataclasses
import fnmatch
import functools
import json
import math
import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from ..checks import CheckResult, Finding, Status, plural
from ..config import LogsConfig
from ..secrets import NOT_SECRET_VALUES, REDACTED_VALUE, SHAPES, is_secret_name

REDACTED = "[REDACTED]"
EXCERPT_CHARS = 160

# --- splitting and decoding -------------------------------------------------------------


def split_lines(data: bytes) -> list[bytes]:
    """A blob of output -> its lines, without line endings (a final newline adds none)."""
    lines = data.split(b"\n")
    if lines and lines[-1] == b"":
        lines.pop()
    return [line.removesuffix(b"\r") for line in lines]


def _normalise(lines: Iterable[bytes | str]) -> list[bytes]:
    out: list[bytes] = []
    for line in lines:
        raw = line.encode("utf-8", "surrogatepass") if isinstance(line, str) else bytes(line)
        # A "line" that still holds newlines (a whole blob, or a chunk) is split further.
        out.extend(split_lines(raw) if b"\n" in raw else [raw.removesuffix(b"\r")])
    return out


# --- parsing one line ---------------------------------------------------------------------

_SEPARATORS = " \t"
_KEY = re.compile(r"[A-Za-z_@][A-Za-z0-9_.@/:\-\[\]]*\Z")


class _UnparsableError(ValueError):
    pass


def _no_constants(name: str) -> Any:
    raise _UnparsableError(f"{name} is not JSON (RFC 8259 has no NaN or Infinity)")


def parse_json(text: str) -> dict[str, Any]:
    """One JSON object, or :class:`ValueError` saying why not."""
    stripped = text.strip()
    if not stripped.startswith("{"):
        raise _UnparsableError("not a JSON object")
    try:
        value = json.loads(stripped, parse_constant=_no_constants)
    except _UnparsableError:
        raise
    except RecursionError:
        raise _UnparsableError("JSON nested too deeply") from None
    except ValueError as exc:
        reason = exc.msg if isinstance(exc, json.JSONDecodeError) else str(exc)
        raise _UnparsableError(f"not valid JSON ({reason})") from None
    if not isinstance(value, dict):  # pragma: no cover - starts with "{"
        raise _UnparsableError("not a JSON object")
    return value


def _read_quoted(text: str, start: int) -> int:
    """Index just past the string literal that opens at ``start``."""
    quote = text[start]
    i = start + 1
    while i < len(text):
        ch = text[i]
        if ch == "\\":
            i += 2
            continue
        if ch == quote:
            return i + 1
        i += 1
    raise _UnparsableError("an unterminated quoted value")


def _read_bracketed(text: str, start: int) -> int:
    closing = {"{": "}", "[": "]", "(": ")"}
    stack: list[str] = []
    i = start
    while i < len(text):
        ch = text[i]
        if ch in "'\"":
            i = _read_quoted(text, i)
            continue
        if ch in closing:
            stack.append(closing[ch])
        elif stack and ch == stack[-1]:
            stack.pop()
            if not stack:
                return i + 1
        i += 1
    raise _UnparsableError("an unbalanced bracketed value")


def _read_repr(text: str, start: int) -> int:
    """Index just past a Python repr: quoted, bracketed (also inside, as in ``E('a b')``)."""
    if start < len(text) and text[start] == "<":
        end = text.find(">", start)
        if end == -1:
            raise _UnparsableError("an unterminated <...> value")
        return end + 1
    i = start
    while i < len(text) and text[i] not in _SEPARATORS:
        if text[i] in "'\"":
            i = _read_quoted(text, i)
        elif text[i] in "{[(":
            i = _read_bracketed(text, i)
        else:
            i += 1
    return i


def _decode_value(raw: str, flavour: str) -> Any:
    if not raw:
        return None if flavour == "logfmt" else ""
    first = raw[0]
    if flavour == "keyvalue":
        try:
            return ast.literal_eval(raw)
        except (ValueError, SyntaxError, TypeError, MemoryError, RecursionError):
            return raw.strip("'\"") if first in "'\"" else raw
    if first == '"':
        inner = raw[1:-1]
        return re.sub(r"\\(.)", lambda m: "\n" if m.group(1) == "n" else m.group(1), inner)
    return raw.replace("\\n", "\n")


def parse_pairs(text: str, flavour: str = "logfmt") -> dict[str, Any]:
    """``key=value`` pairs (logfmt or structlog's KeyValueRenderer), or ValueError.

    logfmt values are bare or double-quoted with backslash escapes, and a bare ``key`` is
    a true flag (LogfmtRenderer's ``bool_as_flag``). keyvalue values are Python reprs:
    ``'text'``, ``42``, ``None``, ``{'a': 1}``. The line needs at least one pair and every
    key must look like a key, so prose ("Listening on port 8000") is not mistaken for it.
    """
    pairs: dict[str, Any] = {}
    i, n = 0, len(text)
    saw_pair = False
    while i < n:
        if text[i] in _SEPARATORS:
            i += 1
            continue
        j = i
        while j < n and text[j] not in _SEPARATORS and text[j] != "=":
            j += 1
        key = text[i:j]
        if not _KEY.match(key):
            if not saw_pair:  # prose ("Serving HTTP on port 8000"): its words read as flags
                raise _UnparsableError("no key=value pairs")
            shown = key if len(key) <= 30 else key[:30] + "..."
            raise _UnparsableError(f"{shown!r} is not a key=value pair")
        if j >= n or text[j] != "=":
            if flavour != "logfmt":
                raise _UnparsableError(f"{key!r} has no value")
            pairs[key] = True
            i = j
            continue
        j += 1
        if flavour == "keyvalue":
            end = _read_repr(text, j)
        elif j < n and text[j] == '"':
            end = _read_quoted(text, j)
        else:
            end = j
            while end < n and text[end] not in _SEPARATORS:
                end += 1
        if end < n and text[end] not in _SEPARATORS:
            raise _UnparsableError(f"the value of {key!r} runs into other text")
        pairs[key] = _decode_value(text[j:end], flavour)
        saw_pair = True
        i = end
    if not saw_pair:
        raise _UnparsableError("no key=value pairs")
    return pairs


def parse_line(text: str, fmt: str) -> dict[str, Any]:
    if fmt == "json":
        return parse_json(text)
    return parse_pairs(text, fmt)


# --- tracebacks -----------------------------------------------------------------------------

_TB_START = re.compile(r"^\s*Traceback \(most recent call last\):\s*$")
_TB_FRAME = re.compile(r'^\s*File "[^"]*", line \d+')
_TB_CHAIN = re.compile(
    r"^\s*(During handling of the above exception, another exception occurred:"
    r"|The above exception was the direct cause of the following exception:)\s*$"
)
_TB_EXC = re.compile(r"^\s*[A-Za-z_][\w.]*(Error|Exception|Exit|Interrupt|Warning|Group)\b.*$")
_TB_GROUP = re.compile(r"^\s*[|+][ \-+|]")  # ExceptionGroup art: "  | ", "  +-+---"


def traceback_lines(texts: Sequence[str | None]) -> set[int]:
    """Indexes of lines that are part of a raw, multi-line Python traceback."""
    found: set[int] = set()
    inside = False
    for index, text in enumerate(texts):
        if text is None:
            inside = False
            continue
        if _TB_START.match(text) or _TB_FRAME.match(text) or _TB_CHAIN.match(text):
            found.add(index)
            inside = True
            continue
        if not inside:
            continue
        if text[:1].isspace() or _TB_GROUP.match(text) or text.strip() in ("", "^", "~"):
            found.add(index)  # source lines, carets, group art
        elif _TB_EXC.match(text):
            found.add(index)  # "ValueError: boom" ends a traceback (or a chained one)
            inside = False
        else:
            inside = False
    return found


# --- secrets --------------------------------------------------------------------------------

def secret_env_values(env: Mapping[str, str], patterns: Sequence[str]) -> dict[str, str]:
    """name -> value of the env vars whose name looks secret and whose value could be."""
    found: dict[str, str] = {}
    for name, value in env.items():
        if not isinstance(value, str) or len(value.strip()) < 4:
            continue
        if value.strip().lower() in NOT_SECRET_VALUES:
            continue
        if is_secret_name(name) or any(fnmatch.fnmatchcase(name.upper(), p.upper())
                                       for p in patterns):
            found[name] = value
    return found


def _escaped_forms(value: str) -> set[str]:
    """The value as it may appear in a line: raw, JSON-escaped, logfmt- or repr-escaped."""
    forms = {value, json.dumps(value)[1:-1], json.dumps(value, ensure_ascii=False)[1:-1],
             value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n"),
             repr(value)[1:-1]}
    # A multi-line value (a PEM key) printed raw shows up one line at a time.
    forms.update(piece for piece in re.split(r"[\r\n]+", value) if len(piece.strip()) >= 8)
    return {f for f in forms if f}


@dataclass(frozen=True)
class SecretHit:
    what: str  # "the value of $DB_PASSWORD", "a bearer token"
    start: int
    end: int
    value: str = ""  # the secret itself (an env value may appear escaped in the line)


def find_secrets(text: str, env_secrets: Mapping[str, str], shapes: bool) -> list[SecretHit]:
    hits: list[SecretHit] = []
    for name, value in env_secrets.items():
        for form in _escaped_forms(value):
            start = text.find(form)
            while start != -1:
                hits.append(SecretHit(f"the value of ${name}", start, start + len(form),
                                      value))
                start = text.find(form, start + 1)
    if shapes:
        for shape in SHAPES:
            for m in shape.pattern.finditer(text):
                start, end = m.span(shape.group)
                secret = m.group(shape.group)
                if shape.group and (REDACTED_VALUE.match(secret) or len(secret) < 4
                                    or secret.lower() in NOT_SECRET_VALUES):
                    continue
                hits.append(SecretHit(shape.name, start, end))
    return hits


def redact(text: str, hits: Iterable[SecretHit]) -> str:
    spans = sorted((h.start, h.end) for h in hits)
    merged: list[list[int]] = []
    for start, end in spans:
        if merged and start <= merged[-1][1]:
            merged[-1][1] = max(merged[-1][1], end)
        else:
            merged.append([start, end])
    for start, end in reversed(merged):
        text = text[:start] + REDACTED + text[end:]
    return text


def excerpt(text: str, limit: int = EXCERPT_CHARS, secrets: Iterable[str] = ()) -> str:
    """Printable and short: control characters escaped, the end of long text cut off.

    ``secrets`` are redacted once more after escaping (an escape such as ``\\x00`` next
    to ``00`` must not spell a secret)."""
    shown = "".join(ch if ch.isprintable() else ascii(ch)[1:-1] for ch in text)
    for secret in sorted(secrets, key=len, reverse=True):
        shown = shown.replace(secret, REDACTED)
    if len(shown) > limit:
        shown = shown[: limit - 3] + "..."
    return shown


# --- where a line came from ---------------------------------------------------------------------

# Keys that name the logger in a structured line (structlog's add_logger_name, stdlib's
# %(name)s in python-json-logger, ECS, MozLog).
LOGGER_KEYS = ("logger", "logger_name", "name", "log.logger", "Logger", "loggerName")
# Loggers of the servers themselves (startup, worker and access lines), not of the app.
SERVER_LOGGERS = ("gunicorn", "uvicorn", "hypercorn", "daphne", "waitress", "werkzeug",
                  "granian", "django.server", "aiohttp.access", "aiohttp.server",
                  "tornado.access", "sanic.access", "sanic.server")
# Lines a server writes in its own plain format (defaults of gunicorn, uvicorn, werkzeug).
_SERVER_TEXT = (
    (re.compile(r"^\[\d{4}-\d\d-\d\d \d\d:\d\d:\d\d(?:,\d+)? [+-]\d{4}\] \[\d+\] \[[A-Z]+\] "),
     "gunicorn"),
    (re.compile(r"^(?:TRACE|DEBUG|INFO|WARNING|ERROR|CRITICAL):\s{2,}\S"), "uvicorn"),
    (re.compile(r'^\S+ \S+ \S+ \[[^\]]+\] "[A-Z]+ \S+ HTTP/[\d.]+" \d{3} '), "access log"),
    (re.compile(r"^ \* (?:Serving Flask app|Debug mode|Running on|Restarting with)"),
     "werkzeug"),
)
# What servers say when their lines are structured but name no logger.
_SERVER_EVENT = (
    (re.compile(r"^(?:Starting gunicorn|Listening at: |Using worker: |Booting worker with "
                r"pid|Handling signal: |Worker exiting|Shutting down: Master)"), "gunicorn"),
    (re.compile(r"^(?:Started server process|Waiting for application (?:startup|shutdown)"
                r"|Application (?:startup|shutdown) complete|Uvicorn running on |Finished "
                r"server process)"), "uvicorn"),
    (re.compile(r'"[A-Z]+ \S+ HTTP/[\d.]+" \d{3}\b'), "access log"),
)
_STDLIB_DEFAULT = re.compile(r"^(?:DEBUG|INFO|WARNING|ERROR|CRITICAL):([A-Za-z_][\w.]*):")


@functools.lru_cache(maxsize=256)
def is_server_logger(name: str) -> bool:
    return any(name == s or name.startswith(s + ".") for s in SERVER_LOGGERS)


def line_origin(text: str | None, fields: Mapping[str, Any] | None,
                event_keys: Sequence[str] = ("event", "message", "msg")
                ) -> tuple[str | None, bool]:
    """(where a line came from, whether that is the server itself rather than the app):
    the logger a structured line names, else the server whose startup or access line it
    is; for plain text, the server whose default format it has, or the logger of
    logging's default format (``WARNING:app.db:...``). (None, False) when it cannot be
    told."""
    if fields is not None:
        for key in LOGGER_KEYS:
            value = lookup(fields, key)
            if isinstance(value, str) and value.strip():
                name = value.strip()
                return name, is_server_logger(name)
        event = next((v for k in event_keys
                      if isinstance(v := lookup(fields, k), str)), "")
        for pattern, server in _SERVER_EVENT:
            if pattern.search(event):
                return server, True
        return None, False
    if not text:
        return None, False
    for pattern, server in _SERVER_TEXT:
        if pattern.search(text):
            return server, True
    m = _STDLIB_DEFAULT.match(text)
    if m:
        return m.group(1), is_server_logger(m.group(1))
    return None, False


def origins(lines: Sequence[Line], limit: int = 4) -> str:
    """``gunicorn.access (9), app (3), no logger named (2)``: where ``lines`` came from,
    most first; "" when none can be told."""
    counts: dict[str, int] = {}
    unnamed = 0
    for ln in lines:
        if ln.origin is None:
            unnamed += 1
        else:
            counts[ln.origin] = counts.get(ln.origin, 0) + 1
    if not counts:
        return ""
    ranked = sorted(counts.items(), key=lambda kv: (-kv[1], kv[0]))
    shown = [f"{name} ({count})" for name, count in ranked[:limit]]
    if len(ranked) > limit:
        rest = ranked[limit:]
        shown.append(f"{len(rest)} other loggers ({sum(c for _, c in rest)})")
    if unnamed:
        shown.append(f"no logger named ({unnamed})")
    return ", ".join(shown)


def from_where(lines: Sequence[Line], full: bool = True) -> str:
    """What a PASS adds about where its lines came from: "" when no line can be placed;
    the loggers and processes otherwise, saying so when every line came from the server
    (its startup and access lines) and none from the app's own loggers."""
    found = origins(lines)
    if not found:
        return ""
    if lines and all(ln.server for ln in lines):
        note = (f"; but every line came from the server (its startup and access lines: "
                f"{found}), none from the app's own loggers")
        if not full:
            return note + " (see SR501)"
        return (note + ", so how the app's own log calls render was not seen: make the "
                "smoke run reach a path where the app logs ([tool.shipready.logs] "
                "requests); SR510 checks the app's logging setup")
    return f"; from {found}"


# --- the analysis -----------------------------------------------------------------------------


@dataclass
class Line:
    number: int  # 1-based
    raw: bytes
    text: str | None  # None: not UTF-8
    decode_error: str = ""
    fields: dict[str, Any] | None = None
    parse_error: str = ""
    traceback: bool = False
    secrets: list[SecretHit] = field(default_factory=list)
    shown: str = ""  # redacted, truncated, printable
    # Only the start of a line too long to keep (a capped log): judged by that start
    # (JSON or text, secret shapes), never parsed for keys.
    truncated: bool = False
    origin: str | None = None  # the logger or server it came from, when it says
    server: bool = False  # written by the server (gunicorn, uvicorn...), not the app

    @property
    def blank(self) -> bool:
        return self.text is not None and not self.text.strip()


@dataclass
class Analysis:
    """Every line of one output, parsed once; the checks below read it."""

    source: str  # "container log", "setup output": the Finding path
    config: LogsConfig
    lines: list[Line]
    env_secrets: dict[str, str]

    @property
    def content(self) -> list[Line]:
        return [ln for ln in self.lines if not ln.blank]

    @property
    def parsed(self) -> list[Line]:
        return [ln for ln in self.lines if ln.fields is not None]


def analyse(
    lines: Iterable[bytes | str],
    config: LogsConfig | None = None,
    env: Mapping[str, str] | None = None,
    source: str = "log",
    starts: Sequence[bytes] = (),
) -> Analysis:
    """Every line parsed once. ``starts``: the first bytes of lines too long to keep
    (:class:`~pytest_shipready.checks.ContainerLogs` ``prefixes``), judged by them."""
    cfg = config or LogsConfig()
    env_secrets = secret_env_values(env or {}, cfg.secret_env)
    secret_forms = {form for value in env_secrets.values() for form in _escaped_forms(value)}
    result: list[Line] = []
    whole = _normalise(lines)
    for number, raw in enumerate([*whole, *starts], start=1):
        if number > len(whole):
            result.append(_start_of_line(number, raw, cfg, env_secrets, secret_forms))
            continue
        try:
            text: str | None = raw.decode("utf-8")
            decode_error = ""
        except UnicodeDecodeError as exc:
            text = None
            decode_error = (f"not valid UTF-8 (byte 0x{raw[exc.start]:02x} at offset "
                            f"{exc.start})")
        line = Line(number, raw, text, decode_error)
        readable = text if text is not None else raw.decode("utf-8", "replace")
        line.secrets = find_secrets(readable, env_secrets, cfg.secret_shapes)
        line.shown = excerpt(redact(readable, line.secrets), secrets=secret_forms)
        if text is not None and text.strip():
            try:
                line.fields = parse_line(text, cfg.format)
            except ValueError as exc:  # _UnparsableError and anything the parsers let slip
                line.parse_error = str(exc)
            except RecursionError:  # pragma: no cover - parsers catch their own
                line.parse_error = "nested too deeply"
        result.append(line)
    for index in traceback_lines([ln.text if ln.fields is None else None for ln in result]):
        result[index].traceback = True
    for line in result:
        if not line.traceback and not line.blank:
            line.origin, line.server = line_origin(line.text, line.fields, cfg.event_keys)
    return Analysis(source, cfg, result, env_secrets)


_STARTS_AS_PAIR = re.compile(r"\s*[A-Za-z_@][A-Za-z0-9_.@/:\-\[\]]*=")


def _start_of_line(number: int, raw: bytes, cfg: LogsConfig, env_secrets: dict[str, str],
                   secret_forms: set[str]) -> Line:
    """The start of a line too long to keep: decoded (a character cut at the end is
    dropped), looked at for secrets, and judged by how it starts: a JSON object opens
    with ``{``, a logfmt or key=value line with ``key=``."""
    try:
        text: str | None = raw.decode("utf-8")
        decode_error = ""
    except UnicodeDecodeError as exc:
        if exc.start >= len(raw) - 3:  # a character cut by the prefix's end
            text, decode_error = raw[:exc.start].decode("utf-8", "replace"), ""
        else:
            text = None
            decode_error = (f"not valid UTF-8 (byte 0x{raw[exc.start]:02x} at offset "
                            f"{exc.start})")
    line = Line(number, raw, text, decode_error, truncated=True)
    readable = text if text is not None else raw.decode("utf-8", "replace")
    line.secrets = find_secrets(readable, env_secrets, cfg.secret_shapes)
    line.shown = excerpt(redact(readable, line.secrets), secrets=secret_forms)
    if text is not None and text.strip():
        opens = text.lstrip().startswith("{") if cfg.format == "json" \
            else bool(_STARTS_AS_PAIR.match(text))
        if not opens:
            line.parse_error = (f"a line of {len(raw):,}+ bytes that does not start as "
                                f"{'a JSON object' if cfg.format == 'json' else 'key=value'}")
    return line


# --- the checks -----------------------------------------------------------------------------

_FORMAT_NAMES = {"json": "JSON objects", "logfmt": "logfmt (key=value)",
                 "keyvalue": "key=value pairs"}


def _verdict(
    analysis: Analysis,
    check_id: str,
    checked: list[Line],
    problems: list[tuple[Line, str]],
    ok: str,
    bad: str,
    hint: str,
    threshold: float | None = None,
) -> CheckResult:
    cfg = analysis.config
    limit = cfg.threshold if threshold is None else threshold
    total, failed = len(checked), len({ln.number for ln, _ in problems})
    passing = total - failed
    figures: dict[str, int | float | str] = {"checked": total, "failed": failed}
    if not problems or (total and passing / total >= limit):
        summary = ok if not problems else (
            f"{ok}; {failed} of {total} lines fail, within threshold {limit:g}")
        return CheckResult.passed(check_id, summary, **figures)
    shown = problems[: cfg.show_lines] if cfg.show_lines else []
    findings = [Finding(f"{_safe_reason(why, line)}{_from(line)}: {line.shown}",
                        analysis.source, line.number, hint) for line, why in shown]
    more = f" (first {len(shown)} shown)" if len(shown) < failed else ""
    summary = f"{failed} of {plural(total, 'line')} checked {bad}{more}"
    failing = origins(list({ln.number: ln for ln, _ in problems}.values()))
    if failing:
        summary += f"; failing lines from {failing}"
    if limit < 1:
        summary += f"; threshold {limit:g} needs at least {math.ceil(limit * total)} passing"
    return CheckResult.failed(check_id, summary, findings, **figures)


def _from(line: Line) -> str:
    return f" (from {line.origin})" if line.origin else ""


def _safe_reason(why: str, line: Line) -> str:
    """The reason with the line's secrets redacted; withheld if a piece could remain."""
    if not line.secrets:
        return why
    readable = line.text if line.text is not None else line.raw.decode("utf-8", "replace")
    found = {readable[h.start:h.end] for h in line.secrets} | {
        h.value for h in line.secrets if h.value}
    secrets = sorted(found, key=len, reverse=True)
    for secret in secrets:
        why = why.replace(secret, REDACTED)
    if any(secret[:6] in why for secret in secrets if secret):
        return "reason withheld (it would show a secret)"
    return why


def check_structured(analysis: Analysis) -> CheckResult:
    """SR501: every (non-blank) line is one JSON object / logfmt / key=value line."""
    cfg = analysis.config
    lines = analysis.content
    if not lines:
        return CheckResult.failed("SR501", f"the {analysis.source} is empty", [Finding(
            f"no output at all in the {analysis.source}", analysis.source, None,
            "Log at least startup and shutdown (e.g. an 'listening' event): an empty log "
            "cannot show that the service is observable.")], checked=0, failed=0)
    problems: list[tuple[Line, str]] = []
    for ln in lines:
        if ln.text is None:
            problems.append((ln, ln.decode_error))
        elif ln.traceback:
            problems.append((ln, "part of a raw traceback"))
        elif ln.fields is None and (ln.parse_error or not ln.truncated):
            problems.append((ln, ln.parse_error))
    name = _FORMAT_NAMES[cfg.format]
    hint = (f"Render every log line with structlog's {_renderer(cfg.format)} and route "
            "stdlib logging, warnings and uncaught exceptions through it (see docs/logs.md).")
    result = _verdict(
        analysis, "SR501", lines, problems,
        f"{plural(len(lines), 'line')}, all {name}{from_where(lines)}", f"are not {name}",
        hint)
    other = other_format(analysis, [ln for ln, _ in problems])
    if result.status != Status.FAILED or other is None:
        return result
    fmt, count = other
    valid = len(lines) - len(problems)
    if valid:
        # Two formats in one stream (a server's own logconfig beside the app's
        # structlog): no single format setting fits, switching it fails the others.
        note = (f"{count} of them {'is' if count == 1 else 'are'} {_FORMAT_NAMES[fmt]} "
                f"and the other {valid} {name}: the log mixes two formats, which no "
                "[tool.shipready.logs] format accepts; render both through one renderer")
    else:
        note = (f"{count} of them {'is' if count == 1 else 'are'} {_FORMAT_NAMES[fmt]}: "
                f'if that is your format, set [tool.shipready.logs] format = "{fmt}"')
    findings = tuple(dataclasses.replace(f, hint=f"{note}; otherwise: {hint}")
                     for f in result.findings)
    return dataclasses.replace(result, summary=f"{result.summary}; {note}",
                               findings=findings)


def other_format(analysis: Analysis, failing: Sequence[Line]) -> tuple[str, int] | None:
    """("logfmt", n) when the lines that fail as the configured format are another one:
    every such line parses as it (logfmt with at least two pairs), else None."""
    texts = [ln.text for ln in failing if ln.text is not None and not ln.traceback]
    if not texts or len(texts) < len(failing):
        return None
    for fmt in ("json", "logfmt"):
        if fmt == analysis.config.format:
            continue
        try:
            ok = all(len(parse_line(text, fmt)) >= (1 if fmt == "json" else 2)
                     for text in texts)
        except ValueError:
            ok = False
        if ok:
            return fmt, len(texts)
    return None


def _renderer(fmt: str) -> str:
    return {"json": "JSONRenderer", "logfmt": "LogfmtRenderer",
            "keyvalue": "KeyValueRenderer"}[fmt]


_MISSING = object()


def lookup(fields: Mapping[str, Any], key: str) -> Any:
    """The value of ``key`` in a line: a top-level key, else (``log.level``) a path into
    nested objects (``{"log": {"level": ...}}``); ``_MISSING`` when absent."""
    if key in fields:
        return fields[key]
    if "." not in key:
        return _MISSING
    value: Any = fields
    for part in key.split("."):
        if not isinstance(value, Mapping) or part not in value:
            return _MISSING
        value = value[part]
    return value


def _first_key(fields: Mapping[str, Any], keys: Sequence[str]) -> str | None:
    return next((k for k in keys if lookup(fields, k) is not _MISSING), None)


first_key = _first_key  # for other families' verdicts on parsed lines
MISSING = _MISSING


def _no_parsed(check_id: str, analysis: Analysis) -> CheckResult:
    fmt = analysis.config.format
    return CheckResult.skipped(
        check_id, f"no line of the {analysis.source} parsed as {_FORMAT_NAMES[fmt]}, so "
        f"there is nothing to check; see SR501 (structured), or set [tool.shipready.logs] "
        f"format if the lines are another format (now {fmt!r})")


def check_required_keys(analysis: Analysis) -> CheckResult:
    """SR502: each parsed line has an event, a level and a timestamp key."""
    cfg = analysis.config
    lines = analysis.parsed
    if not lines:
        return _no_parsed("SR502", analysis)
    wanted = (("an event key", cfg.event_keys), ("a level key", cfg.level_keys),
              ("a timestamp key", cfg.timestamp_keys))
    problems: list[tuple[Line, str]] = []
    found: dict[str, set[str]] = {what: set() for what, _ in wanted}
    for ln in lines:
        assert ln.fields is not None
        missing = []
        for what, keys in wanted:
            key = _first_key(ln.fields, keys)
            if key is None:
                missing.append(f"{what} ({'/'.join(keys)})")
            else:
                found[what].add(key)
        if missing:
            problems.append((ln, "no " + ", no ".join(m.removeprefix("a ").removeprefix(
                "an ") for m in missing)))
    used = ", ".join("/".join(sorted(keys)) for keys in found.values() if keys)
    return _verdict(
        analysis, "SR502", lines, problems,
        f"{plural(len(lines), 'line')} with event, level and timestamp (keys: {used})"
        f"{from_where(lines, full=False)}",
        "lack a required key",
        "Add structlog.stdlib.add_log_level (or add_log_level) and "
        "TimeStamper(fmt='iso', utc=True) to the processors, also to "
        "ProcessorFormatter's foreign_pre_chain; or name your keys in "
        "[tool.shipready.logs] event_keys / level_keys / timestamp_keys, or set "
        'preset = "mozlog" / "ecs" / "gcp" for those schemas.',
    )


_EPOCH_RANGE = (946684800.0, 4102444800.0)  # 2000-01-01 .. 2100-01-01


def timestamp_problem(value: Any, mode: str) -> str | None:
    """Why ``value`` is not an acceptable timestamp, or None when it is."""
    iso_problem = _iso_problem(value)
    epoch_problem = _epoch_problem(value)
    if mode == "iso":
        return iso_problem
    if mode == "epoch":
        return epoch_problem
    return None if iso_problem is None or epoch_problem is None else iso_problem


def _iso_problem(value: Any) -> str | None:
    if isinstance(value, bool) or not isinstance(value, str):
        kind = "a number" if isinstance(value, int | float) else type(value).__name__
        return f"timestamp {_short(value)} is {kind}, not an ISO 8601 string"
    try:
        parsed = datetime.fromisoformat(value.strip())
    except (ValueError, OverflowError, TypeError):
        return f"timestamp {_short(value)} is not ISO 8601"
    if parsed.tzinfo is None or parsed.utcoffset() is None:
        return f"timestamp {_short(value)} has no timezone"
    return None


def _epoch_problem(value: Any) -> str | None:
    number: float | None = None
    if isinstance(value, Mapping) and "seconds" in value:  # protobuf Timestamp (GCP)
        seconds, nanos = value["seconds"], value.get("nanos", 0)
        if not all(isinstance(v, int | str) and not isinstance(v, bool)
                   and str(v).strip().isdigit() for v in (seconds, nanos)):
            return f"timestamp {_short(value)} has non-integer seconds or nanos"
        value = int(seconds)
    if isinstance(value, int | float) and not isinstance(value, bool):
        number = float(value)
    elif isinstance(value, str):
        try:
            number = float(value)
        except ValueError:
            number = None
    if number is None or not math.isfinite(number):
        return f"timestamp {_short(value)} is not an epoch number"
    low, high = _EPOCH_RANGE
    if any(low <= number / scale <= high for scale in (1.0, 1e3, 1e6, 1e9)):
        return None
    return f"timestamp {_short(value)} is not a plausible epoch time (2000-2100)"


def _short(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


SYSLOG_SEVERITIES = range(0, 8)  # 0 emergency .. 7 debug (RFC 5424, MozLog Severity)


def level_problem(value: Any, cfg: LogsConfig) -> str | None:
    """Why ``value`` is not an acceptable level, or None when it is."""
    if isinstance(value, int) and not isinstance(value, bool):
        if cfg.numeric_levels == "syslog":
            return None if value in SYSLOG_SEVERITIES else (
                f"level {value} is not a syslog severity (0-7)")
        return f"level {value} is a number, not a level name"
    allowed = {name.lower() for name in cfg.levels}
    if not isinstance(value, str) or value.strip().lower() not in allowed:
        return f"level {_short(value)} is not a level name"
    return None


def check_levels_and_timestamps(analysis: Analysis) -> CheckResult:
    """SR503: levels are known names (or syslog numbers); timestamps are ISO 8601 with a
    timezone (or epoch numbers). Skipped when no line has a level or a timestamp key."""
    cfg = analysis.config
    lines = analysis.parsed
    if not lines:
        return _no_parsed("SR503", analysis)
    checked: list[Line] = []
    levels = timestamps = 0
    problems: list[tuple[Line, str]] = []
    for ln in lines:
        assert ln.fields is not None
        why: list[str] = []
        level_key = _first_key(ln.fields, cfg.level_keys)
        ts_key = _first_key(ln.fields, cfg.timestamp_keys)
        if level_key is None and ts_key is None:
            continue  # nothing to judge here; SR502 reports the missing keys
        checked.append(ln)
        if level_key is not None:
            levels += 1
            problem = level_problem(lookup(ln.fields, level_key), cfg)
            if problem:
                why.append(problem)
        if ts_key is not None:
            timestamps += 1
            problem = timestamp_problem(lookup(ln.fields, ts_key), cfg.timestamps)
            if problem:
                why.append(problem)
        if why:
            problems.append((ln, "; ".join(why)))
    if not checked:
        return CheckResult.skipped(
            "SR503", f"none of the {plural(len(lines), 'parsed line')} of the "
            f"{analysis.source} has a level key ({'/'.join(cfg.level_keys)}) or a timestamp "
            f"key ({'/'.join(cfg.timestamp_keys)}), so there is nothing to check; name "
            "yours in [tool.shipready.logs] level_keys / timestamp_keys, or set preset")
    scheme = "names" if cfg.numeric_levels == "none" else "names or syslog 0-7"
    when = {"iso": "ISO 8601", "epoch": "epoch", "any": "ISO 8601 or epoch"}[cfg.timestamps]
    parts = []
    if levels:
        parts.append(f"{plural(levels, 'level')} ({scheme})")
    if timestamps:
        parts.append(f"{plural(timestamps, 'timestamp')} ({when})")
    ok = f"{' and '.join(parts)} valid in {plural(len(checked), 'line')}"
    if not levels or not timestamps:
        what, keys = (("level", cfg.level_keys) if not levels
                      else ("timestamp", cfg.timestamp_keys))
        ok += f"; no line has a {what} key ({'/'.join(keys)})"
    ok += from_where(checked, full=False)
    return _verdict(
        analysis, "SR503", checked, problems, ok,
        "have a bad level or timestamp",
        "Use structlog's add_log_level and TimeStamper(fmt='iso', utc=True) (ISO 8601 with "
        "a timezone); for epoch timestamps set [tool.shipready.logs] timestamps = "
        '"epoch"; for syslog severities (0-7) numeric_levels = "syslog"; for other level '
        'names set levels; for MozLog, ECS or Google Cloud set preset = "mozlog" / "ecs" '
        '/ "gcp".',
    )


_EXCEPTION_KEYS = ("exception", "exc_info", "error", "stack", "traceback", "exc")


_TRACEBACK_TEXT = "Traceback (most recent call last)"


def logged_exceptions(value: Any, depth: int = 0) -> int:
    """How many exceptions a parsed line carries inside it: traceback strings
    (format_exc_info), dict_tracebacks' ``{"exc_type": ...}`` entries, ECS-style
    ``{"stack_trace": ...}`` objects."""
    if depth > 4:
        return 0
    if isinstance(value, str):
        return 1 if _TRACEBACK_TEXT in value else 0
    if isinstance(value, Mapping):
        if "exc_type" in value or isinstance(value.get("stack_trace"), str | list):
            return 1
        return sum(logged_exceptions(v, depth + 1) for v in value.values())
    if isinstance(value, list):
        found = [logged_exceptions(v, depth + 1) for v in value]
        # dict_tracebacks: one list entry per chained exception: one logged exception
        if found and all(isinstance(v, Mapping) and "exc_type" in v for v in value):
            return 1
        return sum(found)
    return 0


def check_exceptions(analysis: Analysis) -> CheckResult:
    """SR504: no raw multi-line traceback; with dict_tracebacks, no traceback strings.
    Skipped when no exception was logged at all (nothing shows how they render)."""
    cfg = analysis.config
    lines = analysis.content
    if not lines:
        return CheckResult.skipped(
            "SR504", f"the {analysis.source} is empty, so no exception was logged; make "
            "the app log one, e.g. a failing path in [tool.shipready.logs] requests")
    problems: list[tuple[Line, str]] = []
    structured = 0
    for ln in lines:
        if ln.traceback:
            problems.append((ln, "a raw traceback line"))
            continue
        if ln.fields is None:
            continue
        structured += logged_exceptions(ln.fields)
        if cfg.dict_tracebacks:
            for key in _EXCEPTION_KEYS:
                value = ln.fields.get(key)
                if isinstance(value, str) and _TRACEBACK_TEXT in value:
                    problems.append((ln, f"{key!r} holds a traceback string, not "
                                         "structured frames"))
                    break
    if not problems and not structured:
        return CheckResult.skipped(
            "SR504", f"no exception was logged in the {plural(len(lines), 'line')} of the "
            f"{analysis.source}, so how exceptions are rendered was not seen; add a path "
            "that logs one to [tool.shipready.logs] requests (SR510 checks the logging "
            "setup's exceptions in process)")
    tracebacks = sum(1 for ln in lines if ln.traceback)
    kind = "structured frames" if cfg.dict_tracebacks else "structured lines"
    return _verdict(
        analysis, "SR504", lines, problems,
        f"{plural(structured, 'exception')} logged inside {kind}, no raw tracebacks in "
        f"{plural(len(lines), 'line')}",
        "are raw traceback text" if tracebacks == len(problems)
        else "hold unstructured exceptions",
        "Render exceptions inside the log event: add structlog.processors.dict_tracebacks "
        "(or format_exc_info) before the renderer, also in ProcessorFormatter's "
        "processors, and log uncaught exceptions with log.exception(...) instead of "
        "letting Python print them.",
    )


def check_secrets(analysis: Analysis) -> CheckResult:
    """SR505: no env secret values and no common secret shapes, in any line (blank lines
    hold none: the lines counted are those SR501 and SR504 count)."""
    cfg = analysis.config
    lines = analysis.content
    if not lines:
        return CheckResult.skipped(
            "SR505", f"the {analysis.source} is empty: no line to search for secrets")
    names = sorted(analysis.env_secrets)
    if not names and not cfg.secret_shapes:
        return CheckResult.skipped(
            "SR505", f"nothing to look for in the {analysis.source}: no environment "
            "variable's name matches [tool.shipready.logs] secret_env and secret_shapes = "
            "false; set secret_shapes = true (or name the variables in secret_env)")
    problems: list[tuple[Line, str]] = []
    for ln in lines:
        if ln.secrets:
            kinds = sorted({hit.what for hit in ln.secrets})
            problems.append((ln, "contains " + ", ".join(kinds)))
    looked = []
    if names:
        shown = ", ".join(f"${n}" for n in names[:5]) + (", ..." if len(names) > 5 else "")
        looked.append(f"the {plural(len(names), 'secret env value')} of {shown}")
    if cfg.secret_shapes:
        looked.append(f"{len(SHAPES)} common secret shapes")
    if not names:
        looked.append("no secret env values to look for")
    scope = "; ".join(looked)
    return _verdict(
        analysis, "SR505", lines, problems,
        f"{plural(len(lines), 'line')} free of secrets ({scope})", "contain a secret",
        "Never log credentials: drop them from the event, or add a processor that masks "
        "keys such as password/token/authorization before the renderer; rotate any "
        "secret that reached real logs.",
        threshold=1.0,
    )


CHECKS: dict[str, Callable[[Analysis], CheckResult]] = {
    "SR501": check_structured,
    "SR502": check_required_keys,
    "SR503": check_levels_and_timestamps,
    "SR504": check_exceptions,
    "SR505": check_secrets,
}


def check_all(
    lines: Iterable[bytes | str],
    config: LogsConfig | None = None,
    env: Mapping[str, str] | None = None,
    source: str = "log",
) -> list[CheckResult]:
    """Every check (SR501-SR505) on ``lines``."""
    analysis = analyse(lines, config, env, source)
    return [check(analysis) for check in CHECKS.values()]
