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
_ICON = {"passed": "✅", "failed": "❌", "skipped": "⏭️"}


def build(settings: Settings, results: list[dict[str, Any]], *,
          interrupted: bool = False, not_run: int = 0) -> dict[str, Any]:
    """The report document. ``interrupted``: the run was stopped (Ctrl-C, SIGTERM)
    before every check ran, so it cannot be ready whatever the results so far.
    ``not_run``: readiness checks collected but not run (deselected with -k/-m)."""
    counts = {s: sum(1 for r in results if r["status"] == s)
              for s in ("passed", "failed", "skipped")}
    return {
        "schema": SCHEMA,
        "version": VERSION,
        "project": str(settings.project),
        "config": str(settings.source) if settings.source else None,
        "verdict": "not-ready" if counts["failed"] or interrupted else "ready",
        "interrupted": interrupted,
        "not_run": not_run,
        "counts": counts,
        "results": results,
    }


def caveat(results: list[dict[str, Any]], not_run: int = 0) -> list[str]:
    """What a verdict does not cover: checks deselected (-k/-m), and an image that was
    not built (no engine, say), so that nothing that needs the container ran."""
    notes = []
    if not_run:
        notes.append(f"only {len(results)} of {len(results) + not_run} readiness checks "
                     "ran (the others were deselected, e.g. by -k or -m)")
    for r in results:
        if r["check_id"] == "SR210" and r["status"] == "skipped":
            notes.append("the image was not built, so the image, smoke, parity and "
                         "container-log checks did not run (see shipready::image::build)")
    return notes


def markdown(report: dict[str, Any]) -> str:
    ready = report["verdict"] == "ready"
    c = report["counts"]
    lines = [
        f"## Ship readiness: {'READY ✅' if ready else 'NOT READY ❌'}",
        "",
        f"`{report['project']}`: {c['passed']} passed, {c['failed']} failed, "
        f"{c['skipped']} skipped",
        "",
    ]
    if report.get("interrupted"):
        lines += ["> The run was interrupted: checks that had not run yet are missing, so "
                  "it is not ready.", ""]
    for note in caveat(report["results"], int(report.get("not_run") or 0)):
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
    failed = [r for r in report["results"] if r["status"] == "failed"]
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
