"""What a ``uwsgi`` start command loads and runs, from its options and the ini file it is
given (``uwsgi /srv/uwsgi.ini``, ``uwsgi --ini uwsgi.ini --module app.wsgi``).

SR406 imports the app it names (``module = pkg.wsgi:application``, ``wsgi-file =
app.py``); SR207 and SR209 see the commands it runs before the app (``hook-pre-app =
exec:./manage.py migrate``, ``exec-asap = ...``). Pure: files are read through a callable.
"""

from __future__ import annotations

import re
import shlex
from collections.abc import Callable, Sequence
from dataclasses import dataclass

_CONFIG_SUFFIXES = (".ini",)
# Options whose value is the app: a module (``pkg.wsgi`` or ``pkg.wsgi:app``) or a file.
_MODULE = frozenset({"module", "wsgi", "w"})
_FILE = frozenset({"wsgi-file", "file"})
# Hooks that run a command in a shell: ``hook-<phase> = exec:<command>`` and
# ``exec-<phase> = <command>`` (``exec-asap``, ``exec-pre-app``, ``exec-as-root``...).
_HOOK = re.compile(r"^hook-[a-z-]+$")
_EXEC = re.compile(r"^exec-[a-z-]+$")


def is_uwsgi(words: Sequence[str]) -> bool:
    return bool(words) and words[0].rsplit("/", 1)[-1] == "uwsgi"


@dataclass(frozen=True)
class Option:
    key: str
    value: str
    where: str  # "the command", "uwsgi.ini, line 12"


def ini_options(text: str, name: str) -> list[Option]:
    """The ``[uwsgi]`` section of an ini file, in order (keys may repeat)."""
    found: list[Option] = []
    section = ""
    for number, raw in enumerate(text.splitlines(), 1):
        line = raw.strip()
        if not line or line.startswith(("#", ";")):
            continue
        if line.startswith("[") and line.endswith("]"):
            section = line[1:-1].strip()
            continue
        key, sep, value = line.partition("=")
        if sep and section == "uwsgi":
            found.append(Option(key.strip(), value.strip(), f"{name}, line {number}"))
    return found


def options(words: Sequence[str], read: Callable[[str], str | None]) -> list[Option]:
    """The options of ``uwsgi ...`` (``words``), then those of the ini files it names
    (``--ini``, or a lone ``*.ini`` argument) as ``read`` finds them."""
    found: list[Option] = []
    files: list[str] = []
    args = list(words[1:])
    i = 0
    while i < len(args):
        word = args[i]
        if word.startswith("-"):
            key, sep, value = word.lstrip("-").partition("=")
            if not sep and i + 1 < len(args) and not args[i + 1].startswith("-"):
                value = args[i + 1]
                i += 1
            if key == "ini":
                files.append(value)
            else:
                found.append(Option(key, value, "the command"))
        elif word.endswith(_CONFIG_SUFFIXES):
            files.append(word)
        i += 1
    for path in files:
        text = read(path)
        if text is not None:
            found += ini_options(text, path.rsplit("/", 1)[-1])
    return found


def app_targets(opts: Sequence[Option]) -> tuple[list[str], list[str]]:
    """(modules to import, ``module:callable`` when a ``callable`` is set; Python files
    it loads as the app)."""
    callable_ = next((o.value for o in reversed(opts) if o.key == "callable"), "")
    modules = []
    for o in opts:
        if o.key in _MODULE and o.value and "%" not in o.value:
            value = o.value.split()[0]
            if ":" not in value and callable_:
                value = f"{value}:{callable_}"
            modules.append(value)
    chdir = next((o.value for o in reversed(opts) if o.key == "chdir"), "")
    files = [o.value.split()[0] for o in opts if o.key in _FILE and o.value
             and "%" not in o.value]
    if chdir and "%" not in chdir:  # a relative wsgi-file is found from its chdir
        files = [f if f.startswith("/") else f"{chdir.rstrip('/')}/{f}" for f in files]
    return modules, files


def hook_commands(opts: Sequence[Option]) -> list[tuple[list[str], str]]:
    """The shell commands its hooks run (argv, where), in order."""
    found: list[tuple[list[str], str]] = []
    for o in opts:
        command = ""
        if _HOOK.match(o.key) and o.value.startswith("exec:"):
            command = o.value[len("exec:"):]
        elif _EXEC.match(o.key):
            command = o.value
        if not command.strip():
            continue
        try:
            argv = shlex.split(command)
        except ValueError:
            argv = command.split()
        found.append((argv, f"{o.where} ({o.key})"))
    return found
