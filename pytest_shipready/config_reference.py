"""The configuration reference, generated from the schema in :mod:`pytest_shipready.config`.

``python -m pytest_shipready.config_reference docs/configuration.md`` rewrites the block
between the markers in that page; a test fails when the page and the schema disagree.
"""

from __future__ import annotations

import dataclasses
import sys
import types
from pathlib import Path
from typing import Any, Union, get_args, get_origin, get_type_hints

from .config import SECTION, ShipreadyConfig, range_text

BEGIN = "<!-- BEGIN GENERATED: python -m pytest_shipready.config_reference -->"
END = "<!-- END GENERATED -->"


def _type_name(hint: Any) -> str:
    origin = get_origin(hint)
    if origin in (Union, types.UnionType):  # X | None: an optional X; X | Y: either
        return " or ".join(_type_name(a) for a in get_args(hint) if a is not type(None))
    if origin is tuple:
        return f"array of {_type_name(get_args(hint)[0])}"
    if origin is dict:
        return f"table of {_type_name(get_args(hint)[1])}"
    if str(origin) == "typing.Literal":
        return " \\| ".join(f'`"{a}"`' for a in get_args(hint))
    names = {bool: "boolean", int: "integer", float: "number", str: "string"}
    return names.get(hint, getattr(hint, "__name__", str(hint)))


def _default(f: dataclasses.Field[Any]) -> str:
    if f.default is not dataclasses.MISSING:
        value = f.default
    elif f.default_factory is not dataclasses.MISSING:
        value = f.default_factory()
    else:  # pragma: no cover - every key is optional
        return "(required)"
    if isinstance(value, bool):
        return f"`{str(value).lower()}`"
    if isinstance(value, str):
        return f'`"{value}"`'
    if isinstance(value, tuple):
        return "`[]`" if not value else "`" + str(list(value)).replace("'", '"') + "`"
    if isinstance(value, dict):
        return "`{}`"
    if value is None:
        return "(none)"
    return f"`{value}`"


def _tables(cls: type[Any], name: str) -> list[tuple[str, list[tuple[str, str, str, str]]]]:
    rows: list[tuple[str, str, str, str]] = []
    nested: list[tuple[str, list[tuple[str, str, str, str]]]] = []
    hints = get_type_hints(cls)
    for f in dataclasses.fields(cls):
        hint = hints[f.name]
        if dataclasses.is_dataclass(hint) and isinstance(hint, type):
            nested.extend(_tables(hint, f"{name}.{f.name}"))
            continue
        item = get_args(hint)[1] if get_origin(hint) is dict else None
        if dataclasses.is_dataclass(item) and isinstance(item, type):  # a table per name
            nested.extend(_tables(item, f"{name}.{f.name}.<name>"))
            continue
        doc = f.metadata.get("doc", "").replace("|", "\\|")
        limits = range_text(f.name)
        rows.append((f.name, _type_name(hint) + (f" ({limits})" if limits else ""),
                     _default(f), doc))
    return ([(name, rows)] if rows else []) + nested


def markdown() -> str:
    out: list[str] = []
    for table, rows in _tables(ShipreadyConfig, SECTION):
        out += [f"### `[{table}]`", "", "| key | type | default | meaning |",
                "| --- | --- | --- | --- |"]
        out += [f"| `{k}` | {t} | {d} | {doc} |" for k, t, d, doc in rows]
        out.append("")
    return "\n".join(out).rstrip() + "\n"


def splice(page: str) -> str:
    """The page with the generated block replaced by the current reference."""
    head, _, rest = page.partition(BEGIN)
    _, _, tail = rest.partition(END)
    return f"{head}{BEGIN}\n\n{markdown()}\n{END}{tail}"


def main(argv: list[str]) -> int:
    path = Path(argv[0]) if argv else Path("docs/configuration.md")
    path.write_text(splice(path.read_text(encoding="utf-8")), encoding="utf-8")
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
