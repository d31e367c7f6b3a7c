"""One `start()` of a Search: `Run` owns the run folder, the journal and this start's hook plugins;
`RunPlan` is everything the driver needs, as plain fields (the driver never reads `Search`).
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from compileiq.engines.base import Engine
from compileiq.journal import FILENAME, KEEP_FILES, Journal, JournalMismatchError
from compileiq.search_spaces.space import SearchSpace
from compileiq.types import SearchConfiguration
from compileiq.worker import BaseWorker

__all__ = ["Run", "RunPlan", "remove_scratch"]


@dataclass
class RunPlan:
    """What one start() runs: the driver asks `engine`, dispatches to `worker`, tells `engine`."""

    subject: Any
    """What the hooks receive as `search` (the Search, for plugins' public use)."""
    objective: Callable[..., Any]
    space: SearchSpace
    config: SearchConfiguration
    worker: BaseWorker
    worker_name: str
    engine: Engine
    engine_name: str
    exit_on_failure: bool
    max_refills: int
    dump_results: Path | None
    run_id: str
    run_folder: Path
    on_generation: Callable[[int], None]
    """Called with the generation the search works on (Search keeps `current_generation`)."""


def remove_scratch(folder: Path) -> None:
    """Remove scratch files of a run folder; the journal, its metadata copy and reports stay."""
    if os.environ.get("CIQ_KEEP_CACHE", "0").strip().lower() in ("1", "yes", "true") or not folder.is_dir():
        return
    for child in folder.iterdir():
        if child.name in KEEP_FILES or child.name.startswith(FILENAME + ".damaged"):  # kept by `repair`
            continue
        if child.is_dir() and not child.is_symlink():
            shutil.rmtree(child, ignore_errors=True)
        else:
            child.unlink(missing_ok=True)


class Run:
    """The run folder of one start(): locked (one driver per folder), its journal created (or opened
    to resume), this start's hook plugins registered; all undone on exit, whatever happened.

    Args:
        folder: the run folder (made by the caller).
        resuming: open the existing journal instead of creating one.
        fingerprint: the search space's fingerprint, checked against a journal being resumed.
        meta: builds the journal's metadata for a new run (called only when creating).
        plugins: hook implementations registered for this start() only (tracker, progress bar).
    """

    def __init__(self, folder: Path, *, resuming: bool, fingerprint: str,
                 meta: Callable[[], dict[str, Any]], plugins: Callable[[], list[Any]]) -> None:
        self.folder = folder
        self.resuming = resuming
        self.fingerprint = fingerprint
        self._meta = meta
        self._plugins = plugins
        self._registered: list[Any] = []
        self._lock: Any = None
        self.journal: Journal | None = None

    @property
    def seed(self) -> int:
        """The engine seed the journal holds."""
        assert self.journal is not None
        return int(self.journal.meta()["engine"]["seed"])

    def __enter__(self) -> Run:
        from compileiq.run_folder import LOCK_NAME, RunLock

        self._lock = RunLock.acquire(self.folder)  # one driver per run folder, until this start() ends
        try:
            self.journal = self._open_journal()
        except BaseException:
            self._lock.release()
            if not self.resuming:  # a new run folder that never got a journal: leave nothing behind
                (self.folder / LOCK_NAME).unlink(missing_ok=True)
            raise
        try:
            from compileiq.plugins import get_plugin_manager

            pm = get_plugin_manager()
            for plugin in self._plugins():
                pm.register(plugin)
                self._registered.append(plugin)
        except BaseException:
            self.__exit__(None, None, None)
            raise
        return self

    def __exit__(self, *exc_info: object) -> None:
        try:
            if self.journal is not None:
                self.journal.close()
            from compileiq.plugins import get_plugin_manager

            pm = get_plugin_manager()
            for plugin in self._registered:
                if pm.is_registered(plugin):
                    pm.unregister(plugin)
            self._registered.clear()
            remove_scratch(self.folder)
        finally:
            if self._lock is not None:
                self._lock.release()
                self._lock = None

    def _open_journal(self) -> Journal:
        if not self.resuming:
            return Journal.create(self.folder, self._meta())
        journal = Journal.open(self.folder)
        if journal.meta().get("space_fingerprint") != self.fingerprint:
            journal.close()
            raise JournalMismatchError(
                f"The journal in {str(self.folder)!r} belongs to another search space or other "
                "constraints; resume with the space and constraints the run started with."
            )
        return journal
