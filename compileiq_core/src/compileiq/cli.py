"""The `compileiq` command: `compileiq workers [--json]`, `compileiq engines [--json]`."""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence

__all__ = ["main"]


def _table(rows: list[dict[str, object]], columns: Sequence[str]) -> str:
    cells = [[str(r.get(c) if r.get(c) is not None else "-") for c in columns] for r in rows]
    widths = [max([len(c), *(len(row[i]) for row in cells)]) for i, c in enumerate(columns)]
    lines = ["  ".join(c.upper().ljust(w) for c, w in zip(columns, widths)).rstrip()]
    lines += ["  ".join(v.ljust(w) for v, w in zip(row, widths)).rstrip() for row in cells]
    return "\n".join(lines)


def _plugin_rows(kind: str) -> list[dict[str, object]]:
    import warnings

    from compileiq.plugins import plugin_failures
    from compileiq.registry import list_engines, list_workers

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        infos = list_workers() if kind == "workers" else list_engines()
        rows = [info.as_dict() for info in infos]
        for failure in plugin_failures():
            if failure.kind == "hooks" and kind == "workers":
                rows.append({"name": f"(hooks) {failure.name}", "target": "-", "distribution": failure.distribution,
                             "version": failure.version, "status": f"failed: {failure.error}"})
    return rows


def _header_lines() -> list[str]:
    from compileiq.plugins import get_plugin_manager

    lines: list[str] = []
    for item in get_plugin_manager().hook.compileiq_report_header():
        if isinstance(item, str):
            lines.append(item)
        elif item:
            lines.extend(str(x) for x in item)
    return lines


def _list(kind: str, as_json: bool) -> int:
    rows = _plugin_rows(kind)
    if as_json:
        print(json.dumps(rows, indent=2))
    else:
        print(_table(rows, ["name", "distribution", "version", "status"]) if rows else f"no {kind} installed")
        for line in _header_lines():
            print(line)
    return 1 if any(str(r["status"]).startswith(("failed", "conflict")) for r in rows) else 0


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the `compileiq` command; returns the exit status."""
    parser = argparse.ArgumentParser(prog="compileiq", description="compileiq command-line tools")
    sub = parser.add_subparsers(dest="command", required=True)
    for kind in ("workers", "engines"):
        p = sub.add_parser(kind, help=f"list installed {kind} with their distribution, version and status")
        p.add_argument("--json", action="store_true", help="print JSON instead of a table")
    args = parser.parse_args(argv)
    return _list(args.command, args.json)


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
