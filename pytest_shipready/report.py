"""Readiness reports: JSON (``--shipready-report=x.json``) and Markdown (``x.md``).

The JSON document follows ``report.schema.json`` (shipped in this package; its
``version`` changes only with incompatible changes). The Markdown form is what is
appended to ``$GITHUB_STEP_SUMMARY`` in GitHub Actions. Pure: no pytest, no docker.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from .catalog import BY_ID
from .config import Settings

SCHEMA = "pytest-shipready/report"
VERSION = 1
SCHEMA_FILE = Path(__file__).with_name("report.schema.json")
_ICON = {"passed": "✅", "failed": "❌", "skipped": "⏭️", "error": "💥"}


def build(settings: Settings, results: list[dict[str, Any]], *,
          interrupted: bool = False, not_run: int = 0, deselected: int = 0,
          stopped_early: str = "", marked: dict[str, str] | None = None,
          phases: dict[str, float] | None = None,
          image: dict[str, Any] | None = None, not_checked: str = "",
          manifests: list[dict[str, Any]] | None = None) -> dict[str, Any]:
    """The report document, and its one verdict.

    Not ready when a check failed or ended in an error, when a test marked
    ``@pytest.mark.shipready`` failed, when the run was interrupted (Ctrl-C, SIGTERM),
    or when it stopped early (-x, --maxfail) before every readiness check ran.
    ``not_run``: readiness checks collected but not run, of which ``deselected`` were
    deselected on purpose (-k, -m) and the rest not reached: any check not reached makes
    the run not ready, whatever stopped it (-x, an INTERNALERROR before the first item,
    --collect-only), so that a gate that did not run is never READY. ``phases``: seconds spent
    in phases outside the readiness items (a build a fixture asked for); the document's
    ``phases`` adds those of the items (each result's own ``phases``). ``image``: what
    the image ships (see :mod:`pytest_shipready.sbom`), when it was built.
    ``not_checked``: why no image was judged at all ("no Dockerfile selected; found
    dockerfiles/django/Dockerfile"), which the verdict line says. ``manifests``: the
    deployment files checked against the image (SR600-SR607)."""
    counts = {s: sum(1 for r in results if r["status"] == s)
              for s in ("passed", "failed", "skipped", "error")}
    marked = dict(sorted((marked or {}).items()))
    tests = {s: sum(1 for v in marked.values() if v == s) for s in ("passed", "failed",
                                                                     "skipped")}
    unreached = max(0, not_run - deselected)
    not_ready = (counts["failed"] or counts["error"] or tests["failed"] or interrupted
                 or unreached)
    return {
        "schema": SCHEMA,
        "version": VERSION,
        "project": str(settings.project),
        "config": str(settings.source) if settings.source else None,
        "verdict": "not-ready" if not_ready else "ready",
        "interrupted": interrupted,
        "stopped_early": stopped_early,
        "not_run": not_run,
        "deselected": min(deselected, not_run),
        "counts": counts,
        "tests": {**tests, "failed_nodeids": [n for n, v in marked.items() if v == "failed"]},
        "results": results,
        **({"phases": total} if (total := _phase_totals(results, phases)) else {}),
        **({"image": image} if image is not None else {}),
        **({"not_checked": not_checked} if not_checked else {}),
        **({"manifests": manifests} if manifests else {}),
    }


def _phase_totals(results: list[dict[str, Any]], extra: dict[str, float] | None
                  ) -> dict[str, float]:
    """Seconds by phase (resolve, build, ready, settle, ...), over the whole run."""
    total: dict[str, float] = {}
    for phases in [*(r.get("phases") or {} for r in results), extra or {}]:
        for name, seconds in phases.items():
            total[name] = round(total.get(name, 0.0) + float(seconds), 3)
    return dict(sorted(total.items()))


def verdict_lines(report: dict[str, Any]) -> list[tuple[str, bool]]:
    """The verdict as the terminal shows it: (line, is it bad)."""
    c = report["counts"]
    tests = report.get("tests") or {}
    ran = (f"{c['passed']} passed, {c['failed']} failed, {c.get('error', 0)} errors, "
           f"{c['skipped']} skipped")
    if report["interrupted"]:
        return [(f"NOT READY: the run was interrupted ({len(report['results'])} checks "
                 f"ran: {ran})", True)]
    if report["verdict"] == "ready":
        head = "READY"
        if report.get("not_checked"):  # no image judged: say what the READY covers
            head = f"READY ({_checked(report)} only: {report['not_checked']})"
        line = f"{head}: {c['passed']} passed, {c['skipped']} skipped"
        if tests.get("passed"):
            line += f"; {tests['passed']} marked readiness tests passed"
        return [(line, False)]
    why = []
    failed = sorted({r["check_id"] for r in report["results"] if r["status"] == "failed"})
    errored = sorted({r["check_id"] for r in report["results"] if r["status"] == "error"})
    if failed:
        why.append(f"{c['failed']} failed ({', '.join(failed)})")
    if errored:
        why.append(f"{c['error']} ended in an error ({', '.join(errored)})")
    if tests.get("failed"):
        why.append(f"{tests['failed']} marked readiness test{'s' if tests['failed'] > 1 else ''}"
                   f" failed ({', '.join(tests['failed_nodeids'][:3])}"
                   f"{', ...' if tests['failed'] > 3 else ''})")
    unreached = report["not_run"] - report.get("deselected", 0)
    if unreached:
        how = (f"the run stopped early ({report['stopped_early']})"
               if report.get("stopped_early") else "they did not run")
        why.append(f"{unreached} checks not reached: {how}")
    return [(f"NOT READY: {'; '.join(why)}; {c['passed']} passed, {c['skipped']} skipped",
             True)]


_AREAS = {"lockfile": "lockfiles", "dockerfile": "Dockerfile", "image": "image",
          "smoke": "smoke", "parity": "parity", "logs": "logging setup"}


def _checked(report: dict[str, Any]) -> str:
    """The areas with a passed check: "lockfiles and logging setup"."""
    areas = list(dict.fromkeys(_AREAS.get(r.get("area") or "", r.get("area") or "")
                               for r in report["results"] if r["status"] == "passed"))
    if not areas:
        return "nothing checked"
    return areas[0] if len(areas) == 1 else ", ".join(areas[:-1]) + " and " + areas[-1]


def caveat(report: dict[str, Any]) -> list[str]:
    """What a verdict does not cover: checks deselected (-k/-m) or not reached, and an
    image that was not built (no engine, say), so that nothing that needs it ran."""
    notes = []
    results = report["results"]
    not_run = int(report.get("not_run") or 0)
    deselected = int(report.get("deselected") or 0)
    total = len(results) + not_run
    if deselected:
        notes.append(f"{deselected} of {total} readiness checks were deselected (-k, -m or "
                     "--lf) and did not run")
    unreached = not_run - deselected
    if unreached and not report.get("interrupted"):
        how = (f"the run stopped early ({report['stopped_early']})"
               if report.get("stopped_early") else "they were not reached")
        notes.append(f"{unreached} of {total} readiness checks did not run: {how}")
    if report.get("not_checked") and report["verdict"] != "ready":
        notes.append(f"no image was judged: {report['not_checked']}")
    for r in results:
        if r["check_id"] == "SR210" and r["status"] == "skipped":
            notes.append("the image was not built, so the image, smoke, parity and "
                         "container-log checks did not run (see shipready::image::build)")
        if r["check_id"] == "SR320" and (r.get("figures") or {}).get("app_not_run"):
            notes.append("the backing services could not be started here, so the checks "
                         "of the running app did not run (see shipready::smoke::services)")
    return notes


def markdown(report: dict[str, Any]) -> str:
    ready = report["verdict"] == "ready"
    lines = [
        f"## Ship readiness: {'READY ✅' if ready else 'NOT READY ❌'}",
        "",
        f"`{report['project']}`: " + verdict_lines(report)[0][0],
        "",
    ]
    if report.get("interrupted"):
        lines += ["> The run was interrupted: checks that had not run yet are missing, so "
                  "it is not ready.", ""]
    for note in caveat(report):
        lines += [f"> Note: {note}.", ""]
    areas: dict[str, list[dict[str, Any]]] = {}
    for r in report["results"]:
        areas.setdefault(r.get("area") or "other", []).append(r)
    for area, rows in areas.items():
        lines += [f"### {area}", "", "| ID | check | status | details |",
                  "| --- | --- | --- | --- |"]
        for r in rows:
            what = " › ".join(p for p in (r.get("subject"), r.get("name")) if p)
            lines.append(f"| {r['check_id']} | {_cell(what)} | {_ICON.get(r['status'], '')} "
                         f"{r['status']} | {_cell(r.get('summary', ''))} |")
        lines.append("")
    failed = [r for r in report["results"] if r["status"] in ("failed", "error")]
    if failed:
        lines += ["### Failures", ""]
        for r in failed:
            spec = BY_ID.get(r["check_id"])
            title = f" {spec.name}" if spec else ""
            lines += [f"#### {r['check_id']}{title}: {_inline(r.get('summary', ''))}", "",
                      f"`{r.get('nodeid', '')}`", ""]
            for f in r.get("findings", [])[:20]:
                where = f"`{f['path']}:{f['line']}` " if f.get("path") and f.get("line") \
                    else (f"`{f['path']}` " if f.get("path") else "")
                first, *more = str(f["message"]).splitlines() or [""]
                lines.append(f"- {where}{_inline(first)}")
                if more:  # details (a traceback, layers, both outcomes) keep their lines
                    lines += ["", "  ```text", *(f"  {ln}" for ln in more), "  ```", ""]
                if f.get("hint"):
                    lines.append(f"  - fix: {_inline(f['hint'])}")
            lines.append("")
    failed_tests = (report.get("tests") or {}).get("failed_nodeids") or []
    if failed_tests:
        lines += ["### Marked readiness tests that failed", ""]
        lines += [f"- `{nodeid}`" for nodeid in failed_tests]
        lines.append("")
    return "\n".join(lines).rstrip() + "\n"


def _inline(text: str) -> str:
    return " ".join(str(text).split())


def _cell(text: str) -> str:
    return _inline(text).replace("|", "\\|")


def write(path: Path, report: dict[str, Any]) -> None:
    """Markdown when the name ends in .md or .markdown, JSON otherwise."""
    path.parent.mkdir(parents=True, exist_ok=True)
    if path.suffix.lower() in (".md", ".markdown"):
        path.write_text(markdown(report), encoding="utf-8")
    else:
        path.write_text(json.dumps(report, indent=2) + "\n", encoding="utf-8")


def append_step_summary(path: Path, report: dict[str, Any]) -> None:
    with path.open("a", encoding="utf-8") as fh:
        fh.write(markdown(report) + "\n")
