"""The `compileiq` command.

- `compileiq workers|engines [--json]`: the installed plugins;
- `compileiq plugins [--json]`: every compileiq distribution: version, hooks, what it provides, status;
- `compileiq runs [--folder DIR] [--json]`: the runs under a cache folder (id, start, status,
  evaluations, failures, best);
- `compileiq report RUN [-o OUT]`: an HTML report of a run (needs `compileiq-core[report]`);
- `compileiq resume RUN --objective module:function [--num-workers N] [--task-timeout S]`:
  continue an interrupted run;
- `compileiq repair RUN`: salvage a damaged journal (the damaged file is kept beside it);
- `compileiq dashboard [--folder DIR] [--port N] [--host 127.0.0.1]`: a local web view of the
  runs, live while they run (read-only).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

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


def _warn_conflict() -> None:
    """NVIDIA's CompileIQ installed alongside: say so on stderr (so that --json output stays parseable)."""
    from compileiq.installation import nvidia_conflict

    conflict = nvidia_conflict()
    if conflict:
        print(f"WARNING: {conflict}", file=sys.stderr)


def _list(kind: str, as_json: bool) -> int:
    _warn_conflict()
    rows = _plugin_rows(kind)
    if as_json:
        print(json.dumps(rows, indent=2))
    else:
        print(_table(rows, ["name", "distribution", "version", "status"]) if rows else f"no {kind} installed")
        for line in _header_lines():
            print(line)
    return 1 if any(str(r["status"]).startswith(("failed", "conflict")) for r in rows) else 0


def _plugins(as_json: bool) -> int:
    from compileiq.inventory import list_plugins

    _warn_conflict()
    infos = list_plugins()
    if as_json:
        print(json.dumps([info.as_dict() for info in infos], indent=2))
    else:
        rows: list[dict[str, object]] = []
        for info in infos:
            provides = [f"{kind}: {', '.join(names)}" for kind, names in
                        (("workers", info.workers), ("engines", info.engines), ("trackers", info.trackers)) if names]
            rows.append({"distribution": info.distribution, "version": info.version, "status": info.status,
                         "provides": "; ".join(provides) or None,
                         "hooks": ", ".join(h.removeprefix("compileiq_") for h in info.hooks) or None})
        print(_table(rows, ["distribution", "version", "status", "provides", "hooks"]))
        for line in _header_lines():
            print(line)
    return 1 if any(info.failed for info in infos) else 0


def _default_folder() -> Path:
    return Path.home() / ".cache" / "compileiq"


def _find_run(run: str, folder: str | None) -> Path:
    """A run folder from a path, a run id, or a unique prefix of one under `folder`."""
    path = Path(run).expanduser()
    if path.is_dir():
        return path
    base = Path(folder).expanduser() if folder else _default_folder()
    matches = sorted(p for p in base.glob(f"{run}*") if p.is_dir()) if base.is_dir() else []
    if len(matches) == 1:
        return matches[0]
    if not matches:
        raise SystemExit(f"compileiq: no run {run!r} in {str(base)!r}; `compileiq runs --folder DIR` lists them.")
    raise SystemExit(f"compileiq: {run!r} matches {len(matches)} runs in {str(base)!r}; give more of the id.")


def _runs(folder: str | None, as_json: bool) -> int:
    from datetime import datetime

    from compileiq.journal import list_runs

    base = Path(folder).expanduser() if folder else _default_folder()
    runs = list_runs(base)
    if as_json:
        print(json.dumps([r.as_dict() for r in runs], indent=2, default=str))
        return 0
    if not runs:
        print(f"no runs in {base}")
        return 0
    rows = []
    for r in runs:
        started = datetime.fromtimestamp(r.started).isoformat(sep=" ", timespec="seconds") if r.started else None
        best = f"{r.best:.6g}" if isinstance(r.best, float) else r.best
        rows.append({"id": r.run_id, "started": started, "status": r.status, "evaluations": r.evaluations,
                     "failures": r.failures, "best": best})
    print(_table(rows, ["id", "started", "status", "evaluations", "failures", "best"]))
    return 0


def _report(run: str, out: str | None, folder: str | None) -> int:
    from compileiq.journal import JournalError
    from compileiq.report import write_report

    try:
        path = write_report(_find_run(run, folder), out)
    except (ImportError, JournalError) as exc:
        print(f"compileiq report: {exc}", file=sys.stderr)
        return 2
    print(path)
    return 0


def _repair(run: str, folder: str | None) -> int:
    from compileiq.journal import JournalError
    from compileiq.journal_repair import repair

    try:
        report = repair(_find_run(run, folder))
    except JournalError as exc:
        print(f"compileiq repair: {exc}", file=sys.stderr)
        return 2
    print(report)
    return 0


def _dashboard(args: argparse.Namespace) -> int:
    from compileiq.dashboard import serve

    try:
        serve(Path(args.folder).expanduser() if args.folder else _default_folder(), args.host, args.port)
    except OSError as exc:
        print(f"compileiq dashboard: cannot listen on {args.host}:{args.port}: {exc}. Pick another --port "
              "(0 picks a free one).", file=sys.stderr)
        return 2
    return 0


def _load_objective(spec: str) -> Any:
    import importlib

    module, sep, attr = spec.partition(":")
    if not sep or not module or not attr:
        raise SystemExit(f"compileiq resume: --objective {spec!r} must be 'module:function' (importable).")
    from compileiq._nesting import loading_objective

    sys.path.insert(0, os.getcwd())
    with loading_objective(spec):  # an unguarded module that starts a search is refused, not run
        obj: Any = importlib.import_module(module)
    for part in attr.split("."):
        obj = getattr(obj, part)
    return obj


def _resume(args: argparse.Namespace) -> int:
    from compileiq.ciq import Search
    from compileiq.errors import RecursiveSearchError
    from compileiq.journal import JournalError

    try:
        return _resume_run(args, Search)
    except (RecursiveSearchError, JournalError) as exc:  # unguarded module; locked, damaged, full disk...
        print(f"compileiq resume: {exc}", file=sys.stderr)
        return 2


def _resume_run(args: argparse.Namespace, Search: Any) -> int:  # noqa: N803 - the class
    search = Search.resume(_find_run(args.run, args.folder), objective_function=_load_objective(args.objective),
                           worker_type=args.worker)
    result = search.start(num_workers=args.num_workers, task_timeout=args.task_timeout)
    print(f"{search.cache_folder}: {len(result)} evaluations")
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the `compileiq` command; returns the exit status."""
    parser = argparse.ArgumentParser(prog="compileiq", description="compileiq command-line tools")
    sub = parser.add_subparsers(dest="command", required=True)
    for kind in ("workers", "engines"):
        p = sub.add_parser(kind, help=f"list installed {kind} with their distribution, version and status")
        p.add_argument("--json", action="store_true", help="print JSON instead of a table")
    p = sub.add_parser("plugins", help="list every compileiq distribution: version, hooks, what it provides, status")
    p.add_argument("--json", action="store_true", help="print JSON instead of a table")
    p = sub.add_parser("runs", help="list the runs in a cache folder: id, start, status, evaluations, best")
    p.add_argument("--folder", help="the cache folder (default ~/.cache/compileiq)")
    p.add_argument("--json", action="store_true", help="print JSON instead of a table")
    p = sub.add_parser("report", help="write an HTML report (with PNGs) of a run")
    p.add_argument("run", help="a run folder, or a run id (or unique prefix) in --folder")
    p.add_argument("-o", "--output", help="the HTML file to write (default RUN/report.html)")
    p.add_argument("--folder", help="the cache folder holding the run (default ~/.cache/compileiq)")
    p = sub.add_parser("resume", help="continue an interrupted run")
    p.add_argument("run", help="a run folder, or a run id (or unique prefix) in --folder")
    p.add_argument("--objective", required=True, help="the objective function as module:function")
    p.add_argument("--folder", help="the cache folder holding the run (default ~/.cache/compileiq)")
    p.add_argument("--worker", help="the worker name (default: the run's)")
    p.add_argument("--num-workers", type=int, default=None)
    p.add_argument("--task-timeout", type=float, default=None)
    p = sub.add_parser("repair", help="salvage a damaged run journal (the damaged file is kept beside it)")
    p.add_argument("run", help="a run folder, or a run id (or unique prefix) in --folder")
    p.add_argument("--folder", help="the cache folder holding the run (default ~/.cache/compileiq)")
    p = sub.add_parser("dashboard", help="serve a local web view of the runs, live while they run (read-only)")
    p.add_argument("--folder", help="the cache folder (default ~/.cache/compileiq)")
    p.add_argument("--port", type=int, default=8765, help="the port (default 8765; 0 picks a free one)")
    p.add_argument("--host", default="127.0.0.1", help="address to listen on (default 127.0.0.1: this machine only)")
    args = parser.parse_args(argv)
    if args.command == "plugins":
        return _plugins(args.json)
    if args.command == "dashboard":
        return _dashboard(args)
    if args.command == "runs":
        return _runs(args.folder, args.json)
    if args.command == "report":
        return _report(args.run, args.output, args.folder)
    if args.command == "resume":
        return _resume(args)
    if args.command == "repair":
        return _repair(args.run, args.folder)
    return _list(args.command, args.json)


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
