"""SR230 declared-facts: the image carries what ``[tool.shipready.image]`` declares.

Labels, exposed ports and the working directory are read off the image's configuration
(``docker inspect``, already done for the build); declared files are looked at with one
``stat`` in the session container (or the image's Python where there is no ``stat``).
The verdict is a pure function of plain data; :func:`check` gathers it.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from ...checks import CheckResult, Finding, plural
from ...config import DeclaredFile, ImageConfig

if TYPE_CHECKING:
    from ..build.image import DockerRun
    from ..run.smokerun import SmokeRun

# One line per file: mode (octal), owner, uid, group, gid, type, path (last: it may
# hold the separator). `stat -L`: a declared path that is a symlink is judged by its target.
STAT_FORMAT = "%a|%U|%u|%G|%g|%F|%n"
STAT_PY = r"""
import grp, os, pwd, stat, sys
for p in sys.argv[1:]:
    try:
        s = os.stat(p)
    except OSError as e:
        print("stat: cannot stat '%s': %s" % (p, e.strerror), file=sys.stderr)
        continue
    try:
        u = pwd.getpwuid(s.st_uid).pw_name
    except KeyError:
        u = "UNKNOWN"
    try:
        g = grp.getgrgid(s.st_gid).gr_name
    except KeyError:
        g = "UNKNOWN"
    kind = "other"
    if stat.S_ISDIR(s.st_mode):
        kind = "directory"
    elif stat.S_ISREG(s.st_mode):
        kind = "regular file"
    print("%o|%s|%d|%s|%d|%s|%s" % (stat.S_IMODE(s.st_mode), u, s.st_uid, g, s.st_gid, kind, p))
""".strip()


@dataclass(frozen=True)
class FileStat:
    path: str
    mode: int  # permission bits, with setuid/setgid/sticky
    owner: str
    uid: int
    group: str
    gid: int
    kind: str  # "regular file", "directory", ...


def parse_stat(output: str) -> dict[str, FileStat]:
    """The lines of :data:`STAT_FORMAT` by path; error lines (a missing file) are not."""
    found: dict[str, FileStat] = {}
    for line in output.splitlines():
        parts = line.split("|", 6)
        if len(parts) != 7 or not parts[2].isdigit() or not parts[4].isdigit():
            continue
        try:
            mode = int(parts[0], 8)
        except ValueError:
            continue
        found[parts[6]] = FileStat(parts[6], mode, parts[1], int(parts[2]), parts[3],
                                   int(parts[4]), parts[5])
    return found


def unanswered(output: str, paths: list[str], found: dict[str, FileStat]) -> list[str]:
    """The paths that the output neither describes nor names in an error line (`stat:
    cannot statx '/x': No such file or directory`): the engine can lose the output of a
    short exec (moby#27289), and a lost line must not read as a missing file."""
    errors = [line for line in output.splitlines() if line.count("|") < 6]
    return [p for p in paths if p not in found
            and not any(f"'{p}'" in line or f"‘{p}’" in line for line in errors)]


def declares(cfg: ImageConfig) -> bool:
    return bool(cfg.labels or cfg.ports or cfg.workdir or cfg.files)


def _who(declared: str, name: str, number: int) -> bool:
    return int(declared) == number if declared.isdigit() else declared == name


def _norm(path: str) -> str:
    return path.rstrip("/") or "/"


def check_declared(cfg: ImageConfig, labels: dict[str, str], ports: tuple[str, ...],
                   workdir: str, files: dict[str, FileStat] | None, display: str,
                   files_unchecked: str = "") -> CheckResult:
    """``files``: what ``stat`` found, by path; None when the files could not be looked
    at (``files_unchecked`` says why)."""
    if not declares(cfg):
        return CheckResult.skipped(
            "SR230", "nothing declared ([tool.shipready.image] labels, ports, workdir, "
            "files)")
    findings: list[Finding] = []
    verified: list[str] = []
    for key, want in sorted(cfg.labels.items()):
        have = labels.get(key)
        if not have:
            findings.append(Finding(
                f"label {key} is {'empty' if have == '' else 'not set'}"
                + (f" (declared: {want!r})" if want else ""), display, None,
                f"Add `LABEL {key}=...` to the final stage (an ARG passed as a build "
                "argument, [tool.shipready.image] build_args, for values known at build "
                "time such as the revision)."))
        elif want and have != want:
            findings.append(Finding(f"label {key} is {have!r}, declared {want!r}", display,
                                    None, f"Set `LABEL {key}={want}` in the final stage, "
                                    "or change the declared value."))
    if cfg.labels:
        verified.append(plural(len(cfg.labels), "label"))
    for port in cfg.ports:
        if f"{port}/tcp" not in ports:
            exposed = ", ".join(ports) or "none"
            findings.append(Finding(f"port {port}/tcp is not exposed (exposed: {exposed})",
                                    display, None, f"Add `EXPOSE {port}` to the final "
                                    "stage."))
    if cfg.ports:
        verified.append(f"port{'s' if len(cfg.ports) > 1 else ''} "
                        + ", ".join(str(p) for p in cfg.ports))
    if cfg.workdir:
        have_dir = _norm(workdir or "/")
        if have_dir != _norm(cfg.workdir):
            findings.append(Finding(f"the working directory is {have_dir}, declared "
                                    f"{cfg.workdir}", display, None,
                                    f"Set `WORKDIR {cfg.workdir}` in the final stage."))
        verified.append(f"WORKDIR {cfg.workdir}")
    if cfg.files and files is not None:
        for declared in cfg.files:
            findings += _file_findings(declared, files.get(declared.path), display)
        verified.append(plural(len(cfg.files), "file"))
    if cfg.files and files is None and not findings:
        return CheckResult.skipped(
            "SR230", f"{', '.join(verified) + ' as declared; ' if verified else ''}the "
            f"declared files were not looked at: {files_unchecked}")
    summary = f"{', '.join(verified)} as declared"
    if cfg.files and files is None:
        findings.append(Finding(f"the declared files were not looked at: {files_unchecked}"))
    return CheckResult.from_findings(
        "SR230", findings, summary,
        f"{plural(len(findings), 'difference')} from what [tool.shipready.image] declares",
        declared=len(cfg.labels) + len(cfg.ports) + bool(cfg.workdir) + len(cfg.files))


def _file_findings(declared: DeclaredFile, found: FileStat | None, display: str
                   ) -> list[Finding]:
    path = declared.path
    if found is None:
        return [Finding(f"{path} does not exist in the image", display, None,
                        "COPY it into the final stage (and check that .dockerignore does "
                        "not leave it out).")]
    out: list[Finding] = []
    if declared.mode and found.mode != int(declared.mode, 8):
        out.append(Finding(f"{path} has mode {found.mode:04o}, declared {declared.mode}",
                           display, None, f"`COPY --chmod={declared.mode}` (BuildKit) or "
                           f"`RUN chmod {declared.mode} {path}` in the final stage."))
    if declared.owner and not _who(declared.owner, found.owner, found.uid):
        out.append(Finding(f"{path} is owned by {found.owner} (uid {found.uid}), declared "
                           f"{declared.owner}", display, None,
                           f"`COPY --chown={declared.owner}` or `RUN chown "
                           f"{declared.owner} {path}` in the final stage."))
    if declared.group and not _who(declared.group, found.group, found.gid):
        out.append(Finding(f"{path} has group {found.group} (gid {found.gid}), declared "
                           f"{declared.group}", display, None,
                           f"`COPY --chown=<user>:{declared.group}` or `RUN chgrp "
                           f"{declared.group} {path}` in the final stage."))
    return out


def check(run: DockerRun, smoke: SmokeRun) -> CheckResult:
    """SR230 on the built image (and ``smoke``'s session container, when files are
    declared)."""
    cfg = run.cfg
    if not declares(cfg):
        return check_declared(cfg, {}, (), "", None, run.display)
    built, skip = run.need_image("SR230")
    if skip is not None or built.info is None:
        return skip or CheckResult.skipped("SR230", "no image")
    info = built.info
    files: dict[str, FileStat] | None = None
    why = ""
    if cfg.files:
        running, gate = smoke.session("SR230")
        if running is None:
            assert gate is not None
            why = gate.summary
        else:
            paths = [f.path for f in cfg.files]

            def answered(code: int | None, output: str) -> bool:
                return code in (126, 127) or not unanswered(output, paths, parse_stat(output))

            code, output = running.exec_answered(
                ["stat", "-L", "-c", STAT_FORMAT, "--", *paths], answered, tries=3)
            if code in (126, 127) and not parse_stat(output):  # no stat in the image
                code, output = running.exec_answered(["python3", "-c", STAT_PY, *paths],
                                                     answered, tries=3)
                if code in (126, 127):
                    why = f"neither stat nor python3 runs in the container: {output[-200:]}"
            if not why and (lost := unanswered(output, paths, parse_stat(output))):
                why = (f"stat gave no answer for {', '.join(lost)} in 3 tries (the engine "
                       "lost the output of the exec); run again")
            elif not why:
                files = parse_stat(output)
    return check_declared(cfg, info.labels, info.ports, info.workdir, files, run.display,
                          why)
