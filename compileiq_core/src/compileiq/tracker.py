"""Trackers: log a search to Loguru, MLflow or your own backend, as pluggy hook implementations.

A tracker is a `BaseTracker` with upstream's methods (`search_starts`, `generation_starts`,
`pre_objective`, `post_objective`, `generation_ends`, `search_ends`, `setup`, `cleanup`).
`Search(tracker_config=...)` builds one and registers it with the plugin manager for the
duration of each `start()`; its hook implementations turn the search hooks into those calls,
in the driver process, for its own search only. Order: setup, search_starts, then per batch
generation_starts, pre_objective (each candidate, before the batch runs), post_objective (each
score as it arrives), generation_ends; then search_ends and cleanup. A tracker that raises is
reported with a warning and never stops the search (`logging_exception`).

Tracker types resolve by name through `compileiq.registry.tracker_registry`, like workers and
engines: `compileiq_register_trackers` hook implementations (the MLflow tracker is the
`compileiq-mlflow` distribution's), the `compileiq.trackers` entry-point group, or
`register_tracker`; `loguru` is built in (`pip install compileiq-core[loguru]`).
"""

from __future__ import annotations

import functools
import json
import sys
import warnings
from abc import ABC, abstractmethod
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any, TypeVar

from compileiq.hookspecs import hookimpl
from compileiq.tracker_config import (
    CONFIG_CLASSES,
    DefaultTrackerConfig,
    DisabledTrackerConfig,
    LoguruTrackerConfig,
    MLflowTrackerConfig,
    TrackerConfig,
    TrackerTypes,
)

if TYPE_CHECKING:
    from compileiq.ciq import Search
    from compileiq.score import Score

__all__ = [
    "BaseTracker",
    "DefaultTrackerConfig",
    "DisabledTracker",
    "DisabledTrackerConfig",
    "LoguruTracker",
    "LoguruTrackerConfig",
    "MLflowTrackerConfig",
    "TrackerConfig",
    "TrackerTypes",
    "build_tracker",
    "logging_exception",
]

F = TypeVar("F", bound=Callable[..., Any])


def logging_exception(func: F) -> F:
    """Decorator: a tracker method that raises warns and returns None instead of ending the search."""

    @functools.wraps(func)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return func(*args, **kwargs)
        except Exception as exc:  # noqa: BLE001 - tracking must never stop a search
            warnings.warn(
                f"An Exception was caught when trying to log metadata in {func.__qualname__}: "
                f"{type(exc).__name__}: {exc}. The search goes on without this record.",
                RuntimeWarning,
                stacklevel=2,
            )
            return None

    return wrapper  # type: ignore[return-value]


class BaseTracker(ABC):
    """Base class of trackers. Subclass it, implement the abstract methods, pass an instance or
    register its type (`compileiq_register_trackers` hook) and pass its config."""

    def __init__(self, tracker_config: TrackerConfig | None = None) -> None:
        config = tracker_config if tracker_config is not None else DisabledTrackerConfig()
        self.tracker_type = config.type
        self.tracker_config = config.model_copy()
        self.search: Search | None = None
        self._ready = False
        self._setup()

    @logging_exception
    def _setup(self) -> None:
        self.setup()
        self._ready = True

    def setup(self, **kwargs: Any) -> None:  # noqa: B027 - optional
        """Acquire resources (called at construction, and again before a later search)."""

    def cleanup(self, **kwargs: Any) -> None:  # noqa: B027 - optional
        """Release resources (called after `search_ends`)."""

    @abstractmethod
    def search_starts(self, **kwargs: Any) -> None:
        """The search starts (`search_space_resolution_metadata`, `run_info`)."""

    @abstractmethod
    def search_ends(self, **kwargs: Any) -> None:
        """The search ended (`result`, `error`)."""

    @abstractmethod
    def generation_starts(self, generation_number: int, **kwargs: Any) -> None:
        """A batch of `generation_number` starts (refill batches repeat the number)."""

    @abstractmethod
    def generation_ends(self, generation_number: int, **kwargs: Any) -> None:
        """A batch of `generation_number` was scored."""

    @abstractmethod
    def pre_objective(self, config: Any, **kwargs: Any) -> None:
        """A configuration is about to be evaluated."""

    @abstractmethod
    def post_objective(self, scores: str, **kwargs: Any) -> None:
        """A Score arrived (`scores` is its JSON; `score` and `generation` are passed too)."""

    # -- hook implementations: the search hooks, for this tracker's search only ----------------

    def _mine(self, search: Search) -> bool:
        return self.search is None or search is self.search

    @hookimpl
    def compileiq_search_start(self, search: Search, run_info: dict[str, Any]) -> None:
        if not self._mine(search):
            return
        if not self._ready:
            self._setup()
        logging_exception(self.search_starts)(search_space_resolution_metadata=None, run_info=run_info)

    @hookimpl
    def compileiq_generation_start(self, search: Search, generation: int, params_pool: Sequence[Any]) -> None:
        if not self._mine(search):
            return
        logging_exception(self.generation_starts)(generation)
        for config in params_pool:
            logging_exception(self.pre_objective)(config)

    @hookimpl
    def compileiq_evaluation(self, search: Search, score: Score, generation: int) -> None:
        if self._mine(search):
            logging_exception(self.post_objective)(score.model_dump_json(), score=score, generation=generation)

    @hookimpl
    def compileiq_generation_end(self, search: Search, generation: int, scores: Sequence[Score]) -> None:
        if self._mine(search):
            logging_exception(self.generation_ends)(generation, scores=scores)

    @hookimpl
    def compileiq_search_end(self, search: Search, result: Any, error: BaseException | None) -> None:
        if not self._mine(search):
            return
        logging_exception(self.search_ends)(result=result, error=error)
        logging_exception(self.cleanup)()
        self._ready = False


class DisabledTracker(BaseTracker):
    """Logs nothing (the default)."""

    def search_starts(self, **kwargs: Any) -> None:
        pass

    def search_ends(self, **kwargs: Any) -> None:
        pass

    def generation_starts(self, generation_number: int, **kwargs: Any) -> None:
        pass

    def generation_ends(self, generation_number: int, **kwargs: Any) -> None:
        pass

    def pre_objective(self, config: Any, **kwargs: Any) -> None:
        pass

    def post_objective(self, scores: str, **kwargs: Any) -> None:
        pass


class LoguruTracker(BaseTracker):
    """Logs the search with Loguru. Like upstream, `setup()` replaces Loguru's sinks with the configured ones."""

    def setup(self, **kwargs: Any) -> None:
        try:
            from loguru import logger
        except ImportError:
            raise RuntimeError(
                "LoguruTrackerConfig needs loguru, which is not installed; pip install 'compileiq-core[loguru]' "
                "(or pip install loguru), or use another tracker_config."
            ) from None
        config = self.tracker_config
        options = {k: v for k, v in config.extra.items()}
        logger.remove()
        for sink in config.sink or [sys.stdout]:
            logger.add(sink, level=config.level, format=config.format, enqueue=config.enqueue, **options)
        self.logger = logger.bind(task_id="search")

    def search_starts(self, **kwargs: Any) -> None:
        run_info = kwargs.get("run_info") or {}
        self.logger = self.logger.bind(task_id=run_info.get("run_id", "search"))
        self.logger.info("Search started")
        if self.search is not None:
            self.logger.info(f"Resolved search space: {json.dumps(self.search.space.to_json(), default=str)}")

    def generation_starts(self, generation_number: int, **kwargs: Any) -> None:
        self.logger.info(f"Generation {generation_number} started")

    def pre_objective(self, config: Any, **kwargs: Any) -> None:
        self.logger.info("Executing objective function with: {config}", config=config)

    def post_objective(self, scores: str, **kwargs: Any) -> None:
        self.logger.info("Scored: {scores}", scores=scores)

    def generation_ends(self, generation_number: int, **kwargs: Any) -> None:
        self.logger.info(f"Generation {generation_number} ended")

    def search_ends(self, **kwargs: Any) -> None:
        error = kwargs.get("error")
        if error is None:
            self.logger.success("Search ended")
        else:
            self.logger.error(f"Search ended with {type(error).__name__}: {error}")

    def cleanup(self, **kwargs: Any) -> None:
        from loguru import logger

        logger.complete()
        logger.remove()


def tracker_class(kind: str) -> type[BaseTracker]:
    """The tracker class registered for `kind` ("disabled", "loguru", "mlflow", or a plugin's)."""
    from compileiq.registry import resolve_tracker

    return resolve_tracker(kind)


def build_tracker(tracker_config: Any) -> BaseTracker | None:
    """The tracker for `Search(tracker_config=...)`: None when disabled.

    Accepts a TrackerConfig, a dict with a `type`, a TrackerTypes member or name, or a
    BaseTracker instance (used as is).
    """
    if tracker_config is None:
        return None
    if isinstance(tracker_config, BaseTracker):
        return tracker_config
    if isinstance(tracker_config, str):
        kind = str(tracker_config).strip().lower()
        tracker_config = CONFIG_CLASSES.get(kind, TrackerConfig)(type=kind)
    elif isinstance(tracker_config, dict):
        kind = str(tracker_config.get("type", "disabled")).strip().lower()
        tracker_config = CONFIG_CLASSES.get(kind, TrackerConfig)(**{**tracker_config, "type": kind})
    if not isinstance(tracker_config, TrackerConfig):
        raise TypeError(
            f"tracker_config={tracker_config!r} ({type(tracker_config).__name__}) is not usable; pass a "
            "compileiq.types.TrackerConfig such as LoguruTrackerConfig(), a dict with a 'type', or a BaseTracker."
        )
    if tracker_config.type == TrackerTypes.DISABLED.value:
        return None
    return tracker_class(tracker_config.type)(tracker_config)


_TRACKER_TYPES_TO_CONFIG: dict[str, type[TrackerConfig]] = dict(CONFIG_CLASSES)


def __getattr__(name: str) -> Any:
    if name == "MLflowTracker":
        return tracker_class("mlflow")
    if name == "_TRACKER_TYPES_TO_CLASSES":
        classes: dict[str, Any] = {"disabled": DisabledTracker, "loguru": LoguruTracker}
        try:
            classes["mlflow"] = tracker_class("mlflow")
        except (RuntimeError, ImportError):
            pass
        return classes
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
