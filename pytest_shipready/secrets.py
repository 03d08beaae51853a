"""Secret values never reach the terminal, the reports or JUnit XML.

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
from urllib.parse import unquote, urlsplit

from .checks import CheckResult, Finding

MASK = "***"
# Names whose values are secrets: whole words of an upper- or lower-case name.
_SECRET_NAME = re.compile(
    r"(^|_)(PASS|PASSWORD|PASSWD|PWD|SECRET|SECRETS|TOKEN|TOKENS|APIKEY|KEY|PRIVATE|"
    r"CREDENTIAL|CREDENTIALS|AUTH|SIGNATURE|SALT|COOKIE|SESSION|DSN|CERT|PAT)(_|$)",
    re.IGNORECASE)
_MIN_LENGTH = 4  # shorter values ("1", "on") would mask ordinary text


def is_secret_name(name: str) -> bool:
    return bool(_SECRET_NAME.search(name))


def secret_values(env: Mapping[str, str]) -> tuple[str, ...]:
    """The values to mask: those of secret-looking names, and passwords inside URLs of
    any variable. Longest first, so that a value containing another is masked whole."""
    found: set[str] = set()
    for name, value in env.items():
        if is_secret_name(name):
            found.add(value)
        if "://" in value:
            try:
                password = urlsplit(value).password
            except ValueError:
                password = None
            if password:
                found.update({password, unquote(password)})
    return tuple(sorted((v for v in found if len(v) >= _MIN_LENGTH), key=len, reverse=True))


def redact_text(text: str, secrets: Iterable[str]) -> str:
    for value in secrets:
        if value in text:
            text = text.replace(value, MASK)
    return text


def redact_result(result: CheckResult, secrets: tuple[str, ...]) -> CheckResult:
    """``result`` with every secret value in its texts replaced by ``***``."""
    if not secrets:
        return result

    findings = tuple(
        Finding(redact_text(f.message, secrets),
                None if f.path is None else redact_text(f.path, secrets), f.line,
                redact_text(f.hint, secrets))
        for f in result.findings)
    figures = {k: (redact_text(v, secrets) if isinstance(v, str) else v)
               for k, v in result.figures.items()}
    return dataclasses.replace(result, summary=redact_text(result.summary, secrets),
                               findings=findings, figures=figures)
