"""Exceptions raised by compileiq. Every message names the bad value, what was expected and the fix."""

from __future__ import annotations

from typing import Any

__all__ = [
    "CompileIQError",
    "ConfigurationError",
    "ConstraintError",
    "EngineNotInstalledError",
    "NameConflictError",
    "NotInstalledError",
    "PluginLoadError",
    "RecursiveSearchError",
    "ScoreValidationError",
    "SearchAbortedError",
    "SearchSpaceError",
    "SearchSpaceExhaustedError",
    "SearchSpaceExhaustedWarning",
    "TrackerNotInstalledError",
    "UnknownEngineError",
    "UnknownNameError",
    "UnknownTrackerError",
    "UnknownWorkerError",
    "WorkerConflictError",
    "WorkerNotInstalledError",
]


class CompileIQError(Exception):
    """Base class of every error compileiq raises on purpose."""


class ConfigurationError(CompileIQError, ValueError):
    """A `SearchConfiguration` (or a legacy `.config` file) holds a bad value."""


class SearchSpaceError(CompileIQError, ValueError):
    """A search space is malformed."""


class ConstraintError(SearchSpaceError):
    """A search-space constraint is malformed, unsatisfiable, or failed while being checked."""


class ScoreValidationError(CompileIQError, ValueError):
    """An objective's return value does not have the shape `num_objectives` asks for."""


class SearchSpaceExhaustedError(CompileIQError, RuntimeError):
    """The engine cannot propose enough configurations that were not evaluated already."""


class SearchAbortedError(RuntimeError):
    """The search stopped on purpose (e.g. `exit_on_failure`); `.result` holds what finished."""

    def __init__(self, message: str, result: Any = None) -> None:
        super().__init__(message)
        self.result = result

    @classmethod
    def first_generation_failed(cls, scores: Any, count: int, result: Any) -> SearchAbortedError:
        """`exit_on_failure`: all `count` evaluations of the first generation failed (`scores`
        are Score objects; the first error among them is quoted)."""
        reason = next((s.metadata_dict.get("error") for s in scores if not s.is_baseline
                       and s.metadata_dict.get("error")), "the objective returned INVALID_SCORE")
        return cls(
            f"All objective functions failed in the first gen ({count} of {count}; first reason: {reason}). "
            "Fix the objective, or pass Search(exit_on_failure=False) to keep searching anyway.",
            result,
        )


class SearchSpaceExhaustedWarning(UserWarning):
    """The search ended early because the search space has no unseen configurations left."""


class UnknownNameError(CompileIQError, LookupError, ValueError):
    """A worker, engine or tracker name that nothing installed provides."""


class UnknownWorkerError(UnknownNameError):
    """`worker_type` names no installed worker."""


class UnknownEngineError(UnknownNameError):
    """`engine` names no installed engine."""


class UnknownTrackerError(UnknownNameError):
    """A tracker type that no installed plugin provides."""


class NotInstalledError(CompileIQError, ModuleNotFoundError):
    """A first-party plugin is asked for by name but its distribution is not installed."""


class WorkerNotInstalledError(NotInstalledError):
    """A first-party worker is asked for but not installed."""


class EngineNotInstalledError(NotInstalledError):
    """A first-party engine is asked for but not installed."""


class TrackerNotInstalledError(NotInstalledError, RuntimeError):
    """A first-party tracker type (e.g. "mlflow") is asked for but its plugin is not installed."""


class NameConflictError(CompileIQError, RuntimeError):
    """Two installed distributions claim the same plugin name."""


class WorkerConflictError(NameConflictError):
    """Two installed distributions claim the same worker name."""


class PluginLoadError(CompileIQError, ImportError):
    """A plugin's entry point could not be imported or is not what it claims to be."""


class RecursiveSearchError(CompileIQError, RuntimeError):
    """A Search was started inside a process compileiq started (a worker process, a fork server,
    a Ray task) or while an objective's module was being imported: the script that starts the
    search lacks an `if __name__ == "__main__":` guard."""
