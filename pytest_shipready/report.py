"""The JSON readiness report written by ``--shipready-report=PATH``."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from .config import Settings

SCHEMA = "pytest-shipready/report"
VERSION = 1


def build(settings: Settings, results: list[dict[str, Any]]) -> dict[str, Any]:
    failed = any(r["status"] == "failed" for r in results)
    return {
        "schema": SCHEMA,
        "version": VERSION,
        "project": str(settings.project),
        "config": str(settings.source) if settings.source else None,
        "verdict": "not-ready" if failed else "ready",
        "counts": {s: sum(1 for r in results if r["status"] == s)
                   for s in ("passed", "failed", "skipped")},
        "results": results,
    }


def write_json(path: Path, settings: Settings, results: list[dict[str, Any]]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(build(settings, results), indent=2) + "\n", encoding="utf-8")
