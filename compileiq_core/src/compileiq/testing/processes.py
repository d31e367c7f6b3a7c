"""Finding the processes a test started, through /proc (Linux), to prove none is left behind."""

from __future__ import annotations

import os
import time
from pathlib import Path

__all__ = ["STDLIB_HELPERS", "alive", "descendants", "leftover_processes"]

STDLIB_HELPERS = ("multiprocessing.forkserver", "multiprocessing.resource_tracker")
"""Command-line markers of the helper processes `multiprocessing` keeps for the life of the
interpreter (the forkserver and the resource tracker); they are not a worker's to end."""


def _children(pid: int) -> list[int]:
    kids: list[int] = []
    try:
        tasks = list(Path(f"/proc/{pid}/task").iterdir())
    except OSError:
        return kids
    for task in tasks:
        try:
            kids += [int(c) for c in (task / "children").read_text().split()]
        except (OSError, ValueError):
            continue
    return kids


def _cmdline(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace").strip()
    except OSError:
        return ""


def alive(pid: int) -> bool:
    """True while `pid` exists and is not a zombie."""
    try:
        status = Path(f"/proc/{pid}/status").read_text()
    except OSError:
        return False
    return "\nState:\tZ" not in status


def descendants(pid: int | None = None, *, include_helpers: bool = False) -> dict[int, str]:
    """Every living descendant of `pid` (default: this process), pid -> command line.

    The multiprocessing forkserver and resource tracker are left out unless `include_helpers`;
    the forkserver's own children (worker processes) are always included.
    """
    root = os.getpid() if pid is None else pid
    found: dict[int, str] = {}
    seen: set[int] = set()
    stack = [(child, False) for child in _children(root)]
    while stack:
        child, parent_is_helper = stack.pop()
        if child in seen:
            continue
        seen.add(child)
        cmd = _cmdline(child)
        # The helpers' own children (forkserver-started workers) share their command line.
        helper = not parent_is_helper and any(marker in cmd for marker in STDLIB_HELPERS)
        if alive(child) and (include_helpers or not helper):
            found[child] = cmd
        stack += [(grandchild, helper) for grandchild in _children(child)]
    return found


def leftover_processes(before: set[int] | None = None, timeout: float = 3.0) -> dict[int, str]:
    """Descendants of this process not in `before` still alive after up to `timeout` seconds."""
    deadline = time.monotonic() + timeout
    while True:
        left = {p: c for p, c in descendants().items() if before is None or p not in before}
        if not left or time.monotonic() >= deadline:
            return left
        time.sleep(0.02)
