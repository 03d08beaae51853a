"""Secret values never reach the terminal, the reports or JUnit XML.

File names that hold credentials (``.env``, ``*.pem``, ``id_rsa`` ...) are defined here
too (:func:`secret_file_reason`), for what the build context must leave out.

The environment given to the container ([tool.shipready.smoke] env) may hold secrets: a
variable whose name says so (TOKEN, SECRET, PASSWORD, API_KEY, ...), and the password in
a URL such as DATABASE_URL=postgres://user:password@host/db. The container can print
them, and its log, exec output and error messages end up in results. The plugin passes
every result through :func:`redact_result` before reporting it.

Pure: no pytest, no docker.
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import unquote, urlsplit

from .checks import CheckResult, Finding

MASK = "***"
# --- names: one rule for SR204, SR505 and the masking of values -----------------------
# (aligned with BuildKit's SecretsUsedInArgOrEnv: password, passwd, pword, secret, token,
# auth, credential(s), apikey and *_key words)

# Found anywhere in the name, underscores ignored: DBPASSWORD, CLIENT_SECRET, APIKEY.
_SECRET_PARTS = ("PASSWORD", "PASSWD", "PASSPHRASE", "PWORD", "SECRET", "CREDENTIAL",
                 "APIKEY", "PRIVATEKEY", "ACCESSKEY")
# Whole words of the name: NPM_TOKEN, DB_PASS, DB_PWD.
_SECRET_WORDS = frozenset({"TOKEN", "PASS", "PWD", "PAT", "AUTH", "SALT"})
# Words that make a name harmless: it names a file, not a secret.
_HARMLESS_WORDS = frozenset({"FILE", "PATH", "DIR"})
# Words that make a *_KEY name a public key (GPG_KEY is a key id; GPG_PASSPHRASE is not).
_PUBLIC_WORDS = frozenset({"PUBLIC", "PUB", "GPG", "PGP"})


def secret_reason(name: str) -> str | None:
    """Why ``name`` looks like a secret ("TOKEN", "*_KEY"), or None."""
    upper = name.upper()
    parts = [p for p in re.split(r"[^A-Z0-9]+", upper) if p]
    if not parts or _HARMLESS_WORDS.intersection(parts) or parts == ["PWD"]:
        return None
    squashed = "".join(parts)
    for word in _SECRET_PARTS:
        if word in squashed:
            return word
    for part in parts:
        if part in _SECRET_WORDS:
            return part
        if part.endswith("TOKEN") or part.endswith("PASSWORD"):
            return part
    if len(parts) > 1 and parts[-1] in ("KEY", "KEYS") and not _PUBLIC_WORDS.intersection(parts):
        return "*_KEY"
    return None


def is_secret_name(name: str) -> bool:
    return secret_reason(name) is not None


# --- file names: what SR206 keeps out of the build context ----------------------------

# Whole file names that hold credentials.
_SECRET_FILES = {
    ".env": "a dotenv file", ".npmrc": "npm credentials", ".pypirc": "PyPI credentials",
    ".netrc": "netrc credentials", ".git-credentials": "git credentials",
    ".dockercfg": "registry credentials", "id_rsa": "an SSH private key",
    "id_dsa": "an SSH private key", "id_ecdsa": "an SSH private key",
    "id_ed25519": "an SSH private key", "credentials.json": "a credentials file",
}
# Endings of key and certificate-store files.
_SECRET_SUFFIXES = {
    ".pem": "a PEM key or certificate", ".key": "a private key", ".p12": "a PKCS#12 store",
    ".pfx": "a PKCS#12 store", ".jks": "a Java keystore", ".keystore": "a keystore",
}
# .env.example and friends are templates, committed on purpose.
_TEMPLATE_WORDS = ("example", "sample", "template", "dist", "defaults")


# Configuration files that hold credentials only when these keys are in them: an .npmrc
# with `engine-strict=true` alone is not a secret.
_CREDENTIAL_KEYS = {
    ".npmrc": re.compile(r"(?im)(^|:)_(auth|authToken|password)\s*="),
    ".pypirc": re.compile(r"(?im)^\s*password\s*[=:]"),
    ".netrc": re.compile(r"(?i)\bpassword\s+\S"),
    ".git-credentials": re.compile(r"://[^/\s:@]+:[^@\s]+@"),
    ".dockercfg": re.compile(r'"auth"\s*:\s*"[^"]+'),
}


def holds_credentials(name: str, text: str) -> bool:
    """For a credentials configuration file (``.npmrc``, ``.pypirc``, ``.netrc``...):
    does ``text`` hold any? Other secret-looking files are judged by name alone."""
    pattern = _CREDENTIAL_KEYS.get(name.lower())
    return pattern is None or bool(pattern.search(text))


def secret_file_reason(name: str) -> str | None:
    """Why a file called ``name`` (no directory) looks like it holds a secret, or None:
    ``.env`` and ``.env.production``, ``*.pem``, ``id_rsa``, ``.npmrc``, ``.pypirc`` ..."""
    lower = name.lower()
    if lower in _SECRET_FILES:
        return _SECRET_FILES[lower]
    if lower.startswith(".env.") and not any(w in lower for w in _TEMPLATE_WORDS):
        return "a dotenv file"
    for suffix, why in _SECRET_SUFFIXES.items():
        if lower.endswith(suffix) and len(lower) > len(suffix):
            return why
    return None


_MIN_LENGTH = 4  # shorter values ("1", "on") would mask ordinary text


# --- values: shapes that are secret whatever the name --------------------------------------

NOT_SECRET_VALUES = {"true", "false", "none", "null", "yes", "no", "on", "off", "0", "1"}
REDACTED_VALUE = re.compile(
    r"^(\**|x{3,}|\.{3}|<[^>]*>|\[[^\]]*\]|\{[^}]*\}|redacted|hidden|masked|filtered|"
    r"null|none|nil|-|\$\{?\w+\}?)$",
    re.IGNORECASE,
)


@dataclass(frozen=True)
class SecretShape:
    name: str
    pattern: re.Pattern[str]
    group: int  # the part that is secret (and redacted); 0: the whole match


SHAPES: tuple[SecretShape, ...] = (
    SecretShape("a bearer token", re.compile(
        r"(?i)\bbearer\s+([A-Za-z0-9\-._~+/]{8,}=*)"), 1),
    SecretShape("an AWS access key id", re.compile(r"\b((?:AKIA|ASIA)[0-9A-Z]{16})\b"), 1),
    SecretShape("a password or key assignment", re.compile(
        r"""(?i)(?<![A-Za-z0-9])(?:password|passwd|secret|api[_-]?key|"""
        r"""access[_-]?key|secret[_-]?key|private[_-]?key|token|auth[_-]?token)"""
        r"""["']?\s*[=:]\s*(?:\\?["'])?([^\s"',;&}\\]+)"""), 1),
    SecretShape("credentials in a URL", re.compile(
        r"\b[A-Za-z][A-Za-z0-9+.\-]*://[^\s:/@\"']+:([^\s@/\"']+)@"), 1),
    SecretShape("a private key", re.compile(
        r"-----BEGIN (?:[A-Z]+ )*PRIVATE KEY-----"), 0),
    SecretShape("a GitHub or Slack token", re.compile(
        r"\b((?:gh[pousr]_[A-Za-z0-9]{30,})|(?:xox[abprs]-[A-Za-z0-9\-]{10,}))\b"), 1),
)



def secret_value_reason(value: str) -> str | None:
    """Why ``value`` is a secret by its shape alone (a GitHub token, an AWS key id, a
    URL with a password ...), whatever its name; None if it has no such shape."""
    for shape in SHAPES:
        if shape.name != "a password or key assignment" and shape.pattern.search(value):
            return shape.name
    return None


def secret_values(env: Mapping[str, str]) -> tuple[str, ...]:
    """The values to mask: those of secret-looking names or shapes, and passwords inside
    URLs of any variable. Longest first, so that a value containing another is masked
    whole."""
    found: set[str] = set()
    for name, value in env.items():
        reason = secret_value_reason(value)
        if is_secret_name(name) or (reason is not None and reason != "credentials in a URL"):
            found.add(value)
        if "://" in value:
            try:
                password = urlsplit(value).password
            except ValueError:
                password = None
            if password:
                found.update({password, unquote(password)})
    return tuple(sorted((v for v in found if len(v) >= _MIN_LENGTH), key=len, reverse=True))


def configured_secrets(smoke_env: Mapping[str, str], build_args: Mapping[str, str],
                       process_env: Mapping[str, str] | None = None) -> tuple[str, ...]:
    """Every value this run must never show: secrets in the container's environment
    ([tool.shipready.smoke] env) and in the build arguments ([tool.shipready.image]
    build_args), which Docker also keeps in the image history (SR211's layer list); and,
    as a defence in depth, those of pytest's own environment (``process_env``: a
    CI token, a password a tool echoed), of eight characters or more there, so that
    a short ordinary word (``SORT_KEY=name``) does not mask the output."""
    values = set(secret_values(smoke_env)) | set(secret_values(build_args))
    values |= {v for v in secret_values(process_env or {}) if len(v) >= _PROCESS_MIN_LENGTH}
    return tuple(sorted(values, key=len, reverse=True))


_PROCESS_MIN_LENGTH = 8


def secret_build_args(build_args: Mapping[str, str]) -> list[tuple[str, str]]:
    """(name, why) of the build arguments that look secret by name or value: Docker keeps
    build-arg values in the image history, readable by anyone who can pull the image."""
    found: list[tuple[str, str]] = []
    for name, value in build_args.items():
        password = None
        if "://" in value:
            try:
                password = urlsplit(value).password
            except ValueError:
                password = None
        why = (f"its name ({secret_reason(name)})" if is_secret_name(name)
               else f"its value ({secret_value_reason(value)})"
               if secret_value_reason(value) else
               "its value (a URL with a password)" if password else None)
        if why is not None and len(value) >= _MIN_LENGTH:
            found.append((name, why))
    return found


class MaskedEnv(dict[str, str]):
    """An environment whose repr shows the names only: what ``pytest -l`` (locals in
    tracebacks) prints of a fixture's ``env`` holds no value."""

    def __repr__(self) -> str:
        return "{" + ", ".join(f"{name!r}: {MASK!r}" for name in self) + "}"

    __str__ = __repr__


_URL_PASSWORD = next(s for s in SHAPES if s.name == "credentials in a URL").pattern


def _mask_url_password(match: re.Match[str]) -> str:
    whole, password = match.group(0), match.group(1)
    if REDACTED_VALUE.match(password):
        return whole
    return whole[:match.start(1) - match.start(0)] + MASK + "@"


class StandaloneSecret(str):
    """A secret value that is also a word of the project's own names (its directory,
    its packages: ``POSTGRES_PASSWORD=saleor`` in project ``saleor``): masked wherever it
    stands alone (``-U ***``, ``PASSWORD=***``, ``"***"``, a URL's password) but not
    inside a name, where it is the project's word and tells nothing of the secret
    (``saleor.asgi:application``, ``pytest-shipready/saleor-saleor``, ``/app/saleor/``,
    the logger ``saleor.core``): masking those made the output unreadable."""


# A character next to the value that makes it part of a name: a module, a path, a tag.
_NAME_CHARS = r"A-Za-z0-9_./\-"


def project_words(project: Path) -> frozenset[str]:
    """The project's own words: its directory's name and the names of what its top level
    and src/ hold (packages, modules, directories), split at ``-``, ``_``, ``.`` and
    ``+``, lowercase; dotfiles left out."""
    names = [project.name]
    for where in (project, project / "src"):
        try:
            names += [p.name if p.is_dir() else p.stem for p in where.iterdir()
                      if not p.name.startswith(".")]
        except OSError:
            continue
    words = {part.lower() for name in names for part in re.split(r"[-_.+ ]", name)}
    words |= {name.lower() for name in names}
    return frozenset(w for w in words if w)


def mark_standalone(secrets: Iterable[str], words: frozenset[str]) -> tuple[str, ...]:
    """``secrets`` with those that are one of ``words`` (see :func:`project_words`) as
    :class:`StandaloneSecret`; longest first."""
    marked = [StandaloneSecret(v) if v.lower() in words and re.fullmatch(r"\w+", v)
              else v for v in secrets]
    return tuple(sorted(marked, key=len, reverse=True))


def redact_text(text: str, secrets: Iterable[str]) -> str:
    """``text`` with each of ``secrets`` and the password of any URL
    (``https://user:***@host``) replaced by ``***`` (a :class:`StandaloneSecret` only
    where it stands alone)."""
    for value in secrets:
        if value not in text:
            continue
        if isinstance(value, StandaloneSecret):
            text = re.sub(rf"(?<![{_NAME_CHARS}]){re.escape(value)}(?![{_NAME_CHARS}])",
                          MASK, text)
        else:
            text = text.replace(value, MASK)
    if "@" in text and "://" in text:
        text = _URL_PASSWORD.sub(_mask_url_password, text)
    return text


def redact_result(result: CheckResult, secrets: tuple[str, ...]) -> CheckResult:
    """``result`` with every secret value (and URL password) in its texts replaced by
    ``***``."""

    findings = tuple(
        Finding(redact_text(f.message, secrets),
                None if f.path is None else redact_text(f.path, secrets), f.line,
                redact_text(f.hint, secrets))
        for f in result.findings)
    figures = {k: (redact_text(v, secrets) if isinstance(v, str) else v)
               for k, v in result.figures.items()}
    masked = dataclasses.replace(result, summary=redact_text(result.summary, secrets),
                                 findings=findings, figures=figures)
    return result if masked == result else masked


# --- build lines: what `docker build` prints and the image history keeps ----------------

_HISTORY_ARGS = re.compile(r"\|(\d+) ")  # `|2 NAME=value NAME=value /bin/sh -c ...`
_ARG_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*=")
_NEXT_ARG = re.compile(r" (?=[A-Za-z_][A-Za-z0-9_]*=)")
_ENV_OR_ARG = re.compile(r"(?<![A-Za-z0-9_])(ENV|ARG)\s+(.*)$", re.IGNORECASE)
_PAIR = re.compile(r"""([A-Za-z_][A-Za-z0-9_.-]*)=("(?:[^"\\]|\\.)*"|'[^']*'|\S*)""")
_LEGACY_ENV = re.compile(r"([A-Za-z_][A-Za-z0-9_.-]*)\s+(\S.*)$")


def mask_build_line(line: str) -> str:
    """A build step or image history line with its secrets masked (``***``): every value
    of the build arguments Docker records before a RUN (``|2 TOKEN=... URL=... /bin/sh -c
    ...``), the values of ENV and ARG instructions whose name or value looks secret
    (``ENV API_KEY=...``), and the password of any URL. For the ``-v`` build lines and
    the layer commands kept in pytest's cache (SR220/SR221)."""
    line = _mask_history_args(line)
    match = _ENV_OR_ARG.search(line)
    if match is not None:
        line = line[:match.start(2)] + _mask_assignments(match.group(2))
    return redact_text(line, ())


def _mask_history_args(line: str) -> str:
    match = _HISTORY_ARGS.search(line)
    if match is None:
        return line
    out, pos = line[:match.end()], match.end()
    count = int(match.group(1))
    for i in range(count):
        name = _ARG_NAME.match(line, pos)
        if name is None:
            break
        if i < count - 1:  # up to the next NAME=
            following = _NEXT_ARG.search(line, name.end())
            end = following.start() if following else len(line)
        else:  # the last value ends at the command
            space = line.find(" ", name.end())
            end = space if space >= 0 else len(line)
        value = line[name.end():end]
        out += name.group(0) + (MASK if value else "")
        out += line[end:end + 1]
        pos = end + 1
    return out + line[pos:]


def _mask_assignments(text: str) -> str:
    pairs = list(_PAIR.finditer(text))
    if not pairs:  # the legacy form: ENV NAME value
        legacy = _LEGACY_ENV.match(text)
        if legacy is not None and _looks_secret(legacy.group(1), legacy.group(2)):
            return text[:legacy.start(2)] + MASK
        return text
    out, pos = "", 0
    for pair in pairs:
        name, value = pair.group(1), pair.group(2)
        out += text[pos:pair.start(2)]
        out += MASK if value and _looks_secret(name, value.strip("\"'")) else value
        pos = pair.end()
    return out + text[pos:]


def _looks_secret(name: str, value: str) -> bool:
    return len(value) >= _MIN_LENGTH and value.lower() not in NOT_SECRET_VALUES \
        and not REDACTED_VALUE.match(value) \
        and (is_secret_name(name)
             # a URL keeps its host; redact_text masks its password
             or secret_value_reason(value) not in (None, "credentials in a URL"))


def build_secret_values(sources: Mapping[str, str], project: Path,
                        environ: Mapping[str, str]) -> tuple[str, ...]:
    """The values of the build secrets (``[tool.shipready.image] secrets``: "env:NAME"
    or "file:PATH"), to mask wherever they could show (a step that prints one): each
    whole value, and each line of a file's. Nothing is kept but these strings in
    memory; a file that cannot be read gives nothing (the build then says so)."""
    found: set[str] = set()
    for source in sources.values():
        kind, _, where = source.partition(":")
        if kind == "env":
            value = environ.get(where, "")
        else:
            try:
                with open(project / Path(where).expanduser(), "rb") as fh:
                    value = fh.read(1_000_000).decode("utf-8", errors="replace")
            except OSError:
                continue
        for piece in (value, value.strip(), *value.splitlines()):
            piece = piece.strip()
            if len(piece) >= _MIN_LENGTH:
                found.add(piece)
    return tuple(sorted(found, key=len, reverse=True))
