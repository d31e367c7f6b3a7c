"""compileiq: a plugin-based autotuner with the API of NVIDIA's CompileIQ.

Everyday names are importable from here; `SearchResult` is loaded on first use (it needs
pandas). Workers are plugins chosen by name: `Search(..., worker_type="multiprocess")`.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from compileiq.installation import warn_if_conflict

warn_if_conflict()  # before anything else: NVIDIA's files may have replaced the modules below

from compileiq.ciq import Search  # noqa: E402
from compileiq.engines.base import Engine, EngineConfig  # noqa: E402
from compileiq.hookspecs import hookimpl  # noqa: E402
from compileiq.plugins import register_plugin  # noqa: E402
from compileiq.registry import register_engine, register_worker, resolve_engine, resolve_worker  # noqa: E402
from compileiq.score import BASELINE_CONFIG, INVALID_SCORE, Score  # noqa: E402
from compileiq.types import MultiScoreComparison, ProblemType, SearchConfiguration, WorkerTypes  # noqa: E402
from compileiq.worker import BaseWorker, Worker  # noqa: E402

if TYPE_CHECKING:
    from compileiq.results import SearchResult

__all__ = [
    "BASELINE_CONFIG",
    "INVALID_SCORE",
    "BaseWorker",
    "Engine",
    "EngineConfig",
    "MultiScoreComparison",
    "ProblemType",
    "Score",
    "Search",
    "SearchConfiguration",
    "SearchResult",
    "Worker",
    "WorkerTypes",
    "__version__",
    "hookimpl",
    "register_engine",
    "register_plugin",
    "register_worker",
    "resolve_engine",
    "resolve_worker",
]


def __getattr__(name: str) -> Any:
    if name == "SearchResult":
        from compileiq.results import SearchResult

        return SearchResult
    if name == "__version__":
        from importlib.metadata import PackageNotFoundError, version

        try:
            return version("compileiq-core")
        except PackageNotFoundError:
            return "0+unknown"
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
