"""No recursive searches: a process compileiq started, or a module being imported to load an
objective, never starts a Search.

An unguarded script (no `if __name__ == "__main__":`) runs its top level again wherever it is
imported: in a spawn or forkserver child, or when `compileiq resume --objective script:f`
imports it. Each such import would start a new Search, whose workers import the script again:
a runaway. Processes compileiq starts carry `WORKER_ENV` in their environment; `Search.start()`
there (or during `loading_objective()`) raises `RecursiveSearchError`, after leaving its message
where the parent looks for it (`guard_report()`), so the parent stops with the same words.

Standard library only: `compileiq.ciq` imports this module at `start()`.
"""

from __future__ import annotations

import os
import sys
import tempfile
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from compileiq.errors import RecursiveSearchError

__all__ = [
    "WORKER_ENV",
    "check_search_allowed",
    "guard_report",
    "in_worker_process",
    "loading_objective",
    "loading_objective_now",
    "mark_worker_process",
    "worker_environment",
]

WORKER_ENV = "COMPILEIQ_WORKER_PROCESS"
"""Set in every process compileiq starts to `<parent pid>:<report file>`."""

_loading: list[str] = []
_report_path: Path | None = None


def _own_report_path() -> Path:
    global _report_path
    if _report_path is None:
        import atexit

        _report_path = Path(tempfile.gettempdir()) / f"compileiq-guard-{os.getpid()}-{uuid.uuid4().hex[:12]}.txt"
        atexit.register(_report_path.unlink, missing_ok=True)  # a report no search read (a second child's)
    return _report_path


def _marker() -> tuple[int, str] | None:
    value = os.environ.get(WORKER_ENV, "")
    pid, _, report = value.partition(":")
    return (int(pid), report) if pid.isdigit() else None


def in_worker_process() -> bool:
    """True in a process compileiq started to evaluate candidates (or in anything it started)."""
    marker = _marker()
    return marker is not None and marker[0] != os.getpid()


def mark_worker_process(report: str | None = None) -> None:
    """Mark this process as one compileiq started (child side; `child_init` calls it). Keeps an
    existing mark (its report file) unless `report` is given."""
    marker = _marker()
    if marker is None or marker[0] == os.getpid() or report is not None:
        parent = marker[0] if marker is not None and marker[0] != os.getpid() else os.getppid()
        os.environ[WORKER_ENV] = f"{parent}:{report if report is not None else (marker[1] if marker else '')}"


@contextmanager
def worker_environment() -> Iterator[None]:
    """Parent side: processes started inside this block (`Process.start()`, a fork server that
    starts now, `subprocess`) are marked as compileiq's before their first line of Python runs."""
    previous = os.environ.get(WORKER_ENV)
    if in_worker_process():  # already marked (nested tooling): keep the outer mark
        yield
        return
    os.environ[WORKER_ENV] = f"{os.getpid()}:{_own_report_path()}"
    try:
        yield
    finally:
        if previous is None:
            os.environ.pop(WORKER_ENV, None)
        else:
            os.environ[WORKER_ENV] = previous


@contextmanager
def loading_objective(spec: str) -> Iterator[None]:
    """While importing the module that holds an objective (`spec`, e.g. "tune:objective"), a
    Search started by that import is refused."""
    _loading.append(spec)
    try:
        yield
    finally:
        _loading.pop()


def loading_objective_now() -> bool:
    """True while `loading_objective()` is importing an objective's module."""
    return bool(_loading)


def _script_of_caller() -> str:
    """The first file on the stack outside compileiq: the script that called `start()`."""
    package = str(Path(__file__).parent)
    frame = sys._getframe(1)
    while frame is not None:
        name = frame.f_code.co_filename
        if not name.startswith(package) and not name.startswith("<frozen"):
            return name
        frame = frame.f_back  # type: ignore[assignment]
    main = sys.modules.get("__mp_main__") or sys.modules.get("__main__")  # type: ignore[unreachable]
    return str(getattr(main, "__file__", "your script"))


def check_search_allowed() -> None:
    """Raise `RecursiveSearchError` when a Search may not start here (see the module docstring)."""
    if not _loading and not in_worker_process():
        return
    script = _script_of_caller()
    where = (f"while compileiq imported {_loading[-1]!r} to load the objective" if _loading
             else "in a process compileiq started to evaluate candidates")
    message = (
        f"Search.start() was called {where}, from {script}. A search must not start where compileiq "
        f"loads an objective or evaluates candidates: importing a script without a guard runs its top "
        f"level again, which would start searches without end. Put the code that creates and starts the Search under "
        f"`if __name__ == \"__main__\":` in {script} (keep the objective function at module level)."
    )
    marker = _marker()
    if marker is not None and marker[1] and not _loading:
        try:
            Path(marker[1]).write_text(message)
        except OSError:
            pass
    raise RecursiveSearchError(message)


def guard_report() -> str | None:
    """Parent side: the message a refused child left, if any (read once)."""
    path = _report_path
    if path is None:
        return None
    try:
        message = path.read_text()
    except OSError:
        return None
    try:
        path.unlink()
    except OSError:
        pass
    return message or None
