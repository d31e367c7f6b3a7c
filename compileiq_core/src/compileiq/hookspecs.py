"""The pluggy hook specifications of compileiq. This module holds nothing else.

Implement a hook by decorating a function of the same name with `compileiq.hookimpl` in a
module registered under the `compileiq` entry-point group (or with `compileiq.register_plugin`).
Hooks only ever gain arguments; an implementation may accept any subset of them.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import pluggy

if TYPE_CHECKING:
    from compileiq.ciq import Search
    from compileiq.registry import Registrar
    from compileiq.results import SearchResult
    from compileiq.score import Score

hookspec = pluggy.HookspecMarker("compileiq")
hookimpl = pluggy.HookimplMarker("compileiq")


@hookspec
def compileiq_register_workers(registry: Registrar) -> None:
    """Register workers in process: `registry.register("name", WorkerClass or "module:Class")`.

    Called once, before the first worker is resolved or listed.

    .. versionadded:: 1.0
    """


@hookspec
def compileiq_register_engines(registry: Registrar) -> None:
    """Register engines in process: `registry.register("name", EngineClass or "module:Class")`.

    Called once, before the first engine is resolved or listed.

    .. versionadded:: 1.0
    """


@hookspec
def compileiq_register_trackers(registry: Registrar) -> None:
    """Register tracker types in process: `registry.register("name", TrackerClass or "module:Class")`.

    `Search(tracker_config=cfg)` builds the tracker registered for `cfg.type`. Two plugins
    registering one name is an error naming both (like workers and engines).

    .. versionadded:: 1.1
    """


@hookspec
def compileiq_search_start(search: Search, run_info: dict[str, Any]) -> None:
    """A search starts: `run_info` holds the worker name, engine, seed and start() arguments.

    .. versionadded:: 1.0
    """


@hookspec
def compileiq_evaluation(search: Search, score: Score, generation: int) -> None:
    """One evaluation finished (baselines included); called in the driver, in arrival order.

    .. versionadded:: 1.0
    """


@hookspec
def compileiq_generation_start(search: Search, generation: int, params_pool: Sequence[Any]) -> None:
    """A batch of `generation` is about to be evaluated (refills start the same generation again).

    .. versionadded:: 1.0
    """


@hookspec
def compileiq_generation_end(search: Search, generation: int, scores: Sequence[Score]) -> None:
    """A batch of `generation` was scored (a generation with refills ends several times).

    .. versionadded:: 1.0
    """


@hookspec
def compileiq_search_end(search: Search, result: SearchResult | None, error: BaseException | None) -> None:
    """A search ended, normally (`error` is None) or not; `result` holds what finished.

    .. versionadded:: 1.0
    """


@hookspec
def compileiq_tracker_types() -> dict[str, Any] | None:
    """Tracker types this plugin provides: `{"mlflow": "module:TrackerClass" or the class}`.

    Superseded by `compileiq_register_trackers`; still honoured, with the same conflict checks.

    .. versionadded:: 1.0
    """


@hookspec
def compileiq_report_header() -> list[str] | str | None:
    """Extra lines for `compileiq workers`, `compileiq plugins` and bug reports.

    .. versionadded:: 1.0
    """
