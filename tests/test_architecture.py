"""The package's shape: imports point one way (plugin -> plan -> areas -> pure modules ->
core), docker is imported in one place, pure modules know nothing of pytest."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[1] / "pytest_shipready"
FAMILIES = ("locks", "dockerfile", "container", "deploy", "logs")


def _module(path: Path) -> str:
    parts = list(path.relative_to(PACKAGE.parent).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _imports(path: Path) -> set[str]:
    """Every module a file imports, at any level (function bodies and TYPE_CHECKING too)."""
    module = _module(path)
    package = module.split(".") if path.name == "__init__.py" else module.split(".")[:-1]
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package[: len(package) - node.level + 1]
                target = ".".join([*base, *([node.module] if node.module else [])])
            else:
                target = node.module or ""
            found.add(target)
            found.update(f"{target}.{alias.name}" for alias in node.names)
    return found


MODULES = {_module(p): p for p in PACKAGE.rglob("*.py")}
GRAPH = {m: {i for i in _imports(p) if i in MODULES and i != m} - {"pytest_shipready"}
         for m, p in MODULES.items()}


def test_no_import_cycles() -> None:
    state: dict[str, int] = {}  # 1: on the path, 2: done
    path: list[str] = []

    def visit(node: str) -> None:
        state[node] = 1
        path.append(node)
        for dep in sorted(GRAPH[node]):
            if state.get(dep) == 1:
                cycle = [*path[path.index(dep):], dep]
                pytest.fail("import cycle: " + " -> ".join(cycle))
            if dep not in state:
                visit(dep)
        path.pop()
        state[node] = 2

    for module in sorted(GRAPH):
        if module not in state:
            visit(module)


def test_only_the_engine_adapter_imports_docker() -> None:
    offenders = sorted(
        m for m, p in MODULES.items()
        if m != "pytest_shipready.container.engine"
        and any(i.split(".")[0] in ("docker", "testcontainers") for i in _imports(p)))
    assert offenders == []


def _pure(module: str) -> bool:
    parts = module.split(".")
    if len(parts) < 3 or parts[1] not in FAMILIES or parts[-1] == "__init__":
        return False
    if parts[1] == "container":  # the area's own run modules drive the engine
        return parts[-1] in ("smoke", "parity", "testparity", "enginehost", "contents",
                             "contentscache", "backing", "httpprobe")
    return len(parts) == 3 and parts[2] not in ("area", "capture")


def test_pure_modules_do_not_import_pytest_or_the_engine() -> None:
    pure = [m for m in MODULES if _pure(m)]
    assert len(pure) >= 20  # the rule covers the families' logic, not nothing
    offenders = {m: sorted(i for i in _imports(MODULES[m])
                           if i.split(".")[0] in ("pytest", "_pytest")
                           or i.startswith("pytest_shipready.container.engine"))
                 for m in pure}
    assert {m: bad for m, bad in offenders.items() if bad} == {}


def test_areas_import_neither_plan_nor_another_family() -> None:
    """An area plans its own family's items; what it hands another family goes through
    the core (checks.RunContext), not through the other family's area."""
    problems = []
    for family in FAMILIES:
        area = f"pytest_shipready.{family}.area"
        for dep in GRAPH[area]:
            if dep in ("pytest_shipready.plan", "pytest_shipready.plugin"):
                problems.append(f"{area} imports {dep}")
        for module, deps in GRAPH.items():
            if not module.startswith(f"pytest_shipready.{family}."):
                continue
            for other in FAMILIES:
                if other != family and f"pytest_shipready.{other}.area" in deps:
                    problems.append(f"{module} imports {other}.area")
    assert problems == []


def test_core_imports_no_family() -> None:
    core = ["checks", "catalog", "config", "config_reference", "secrets", "report", "sbom",
            "scope"]
    problems = {c: sorted(d for d in GRAPH[f"pytest_shipready.{c}"]
                          if d.split(".")[1] in FAMILIES)
                for c in core}
    assert {c: d for c, d in problems.items() if d} == {}


def test_deployment_readers_are_pure() -> None:
    """deploy/ reads manifests (Compose): plain data in and out, no pytest, no engine."""
    readers = [m for m in MODULES if m.startswith("pytest_shipready.deploy.")]
    assert readers
    offenders = {m: sorted(i for i in _imports(MODULES[m])
                           if i.split(".")[0] in ("pytest", "_pytest", "docker",
                                                  "testcontainers")
                           or i.startswith("pytest_shipready.container"))
                 for m in readers}
    assert {m: bad for m, bad in offenders.items() if bad} == {}
