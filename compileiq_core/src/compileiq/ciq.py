"""`Search`: ties an objective, a search space, an engine and a worker into a tuning run."""

from __future__ import annotations

import difflib
import inspect
import os
import shutil
import uuid
import warnings
import weakref
from collections.abc import Callable
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, Union

from compileiq.engines.base import EngineConfig
from compileiq.errors import SearchSpaceExhaustedError, SearchSpaceExhaustedWarning
from compileiq.registry import resolve_engine, resolve_worker
from compileiq.search_spaces.space import SearchSpace
from compileiq.types import SearchConfiguration, WorkerTypes
from compileiq.worker import BaseWorker

if TYPE_CHECKING:
    from compileiq.results import SearchResult

__all__ = [
    "DEFAULT_ENGINE",
    "Search",
    "SearchAbortedError",
    "SearchConfigInput",
    "SearchSpaceExhaustedError",
    "SearchSpaceExhaustedWarning",
    "SearchSpaceInput",
]

SearchSpaceInput = Union[dict, Path, str, Any, list]
SearchConfigInput = Union[SearchConfiguration, dict, Path, str]
DEFAULT_ENGINE = "genetic"
_FIELDS = (
    "objective_function", "search_space", "search_config", "worker_type", "tracker_config", "debug",
    "cache_folder", "dump_results", "disable_progress_bar", "exit_on_failure", "engine",
)


class SearchAbortedError(RuntimeError):
    """The search stopped on purpose (e.g. `exit_on_failure`); `.result` holds what finished."""

    def __init__(self, message: str, result: SearchResult | None = None) -> None:
        super().__init__(message)
        self.result = result


def _keep_cache() -> bool:
    return os.environ.get("CIQ_KEEP_CACHE", "0").strip().lower() in ("1", "yes", "true")


def _remove_if_empty(path: Path) -> None:
    try:
        path.rmdir()
    except OSError:
        pass


def _build_worker(worker_type: Any, cache_folder: Path, normalize: bool) -> BaseWorker:
    if isinstance(worker_type, BaseWorker):
        return worker_type
    if isinstance(worker_type, type):
        if not issubclass(worker_type, BaseWorker):
            raise TypeError(
                f"worker_type={worker_type.__name__} is not a subclass of compileiq.worker.BaseWorker; "
                "subclass BaseWorker and implement run(), or pass a worker name such as 'multiprocess'."
            )
        cls = worker_type
    elif isinstance(worker_type, str):
        cls = resolve_worker(worker_type.value if isinstance(worker_type, WorkerTypes) else worker_type)
    else:
        raise TypeError(
            f"worker_type={worker_type!r} ({type(worker_type).__name__}) is not usable; pass a worker "
            "name ('multiprocess', 'sequential', 'ray', ...), a WorkerTypes member, a BaseWorker "
            "subclass or an instance of one."
        )
    worker = cls.create(cache_folder=cache_folder, normalize=normalize, tracker=None)
    if not isinstance(worker, BaseWorker):
        raise TypeError(f"{cls.__name__}.create() returned {worker!r}; it must return a worker instance.")
    return worker


class Search:
    """A tuning run: the engine proposes, the worker evaluates, the engine learns.

    Args:
        objective_function: called with one configuration (a dict, or a list of dicts for a
            list of spaces); returns a number, or one per objective, or `INVALID_SCORE`.
        search_space: a dict of `compileiq.search_spaces.base` builders (nested to any depth),
            a path to a JSON space, a provider with `retrieve()`, or a list of these.
        search_config: a `SearchConfiguration`, a dict of its fields, or a legacy `.config` path.
        worker_type: a worker name ("multiprocess", the default; "sequential", "isolated",
            "async", "ray", or any installed plugin's), a `WorkerTypes` member, a `BaseWorker`
            subclass or an instance.
        engine: an engine name or `EngineConfig(name, {"seed": N, ...})`.
        cache_folder: where run folders go (default `~/.cache/compileiq`).
        dump_results: a CSV path rewritten with every result after each batch.
        exit_on_failure: raise when every evaluation of the first batch fails.
        tracker_config, debug, disable_progress_bar: accepted for compatibility.
    """

    max_refill_batches: int = 50
    """Refill batches allowed per generation before it is left short (with a warning)."""

    def __init__(
        self,
        *,
        objective_function: Callable[..., Any],
        search_space: SearchSpaceInput,
        search_config: SearchConfigInput,
        worker_type: Any = WorkerTypes.DEFAULT,
        tracker_config: Any = None,
        debug: bool = False,
        cache_folder: str | Path | None = None,
        dump_results: str | Path | None = None,
        disable_progress_bar: bool = False,
        exit_on_failure: bool = True,
        engine: str | EngineConfig | None = None,
        **unknown: Any,
    ) -> None:
        if unknown:
            names = ", ".join(
                f"{k!r}" + (f" (did you mean {m[0]!r}?)" if (m := difflib.get_close_matches(k, _FIELDS, 1)) else "")
                for k in unknown
            )
            raise TypeError(f"Search() got unknown argument(s) {names}. Valid arguments: {', '.join(_FIELDS)}.")
        if not callable(objective_function):
            raise TypeError(
                f"objective_function={objective_function!r} ({type(objective_function).__name__}) is "
                "not callable; pass a function that takes one configuration and returns its score."
            )
        self.objective_function = objective_function
        self.search_config = SearchConfiguration.coerce(search_config)
        self.search_config.warn_retired()
        self.space = SearchSpace.from_input(search_space)
        self.search_space = search_space
        self.tracker_config = tracker_config
        self.debug = bool(debug)
        self.dump_results = Path(dump_results) if dump_results is not None else None
        self.disable_progress_bar = bool(disable_progress_bar)
        self.exit_on_failure = bool(exit_on_failure)
        self.engine = EngineConfig.coerce(engine, DEFAULT_ENGINE)
        self._engine_cls = resolve_engine(self.engine.name)
        self.current_generation = 0
        base = Path(cache_folder) if cache_folder is not None else Path.home() / ".cache" / "compileiq"
        self.cache_base = base
        stamp = datetime.now().strftime("%Y-%m-%d-%H_%M_%S")
        self.cache_folder = base / f"{stamp}-{uuid.uuid4()}"
        self.cache_folder.mkdir(parents=True, exist_ok=True)
        self._finalizer = weakref.finalize(self, _remove_if_empty, self.cache_folder)
        self.worker = _build_worker(worker_type, self.cache_folder, self.search_config.normalize)
        self._check_objective_kind()
        self.result: SearchResult | None = None

    def _check_objective_kind(self) -> None:
        is_async = inspect.iscoroutinefunction(self.objective_function) or inspect.iscoroutinefunction(
            getattr(self.objective_function, "__call__", None)
        )
        wants_async = getattr(self.worker, "requires_async_objective", False)
        name = self.worker_name
        if wants_async and not is_async:
            raise TypeError(
                f"worker {name!r} requires an async objective function (async def); got "
                f"{self.objective_function!r}. Declare it with async def, or choose another worker_type."
            )
        if is_async and not wants_async:
            raise TypeError(
                f"objective_function {self.objective_function!r} is async def, but worker {name!r} "
                "calls plain functions. Use worker_type='async', or make the objective a plain def."
            )

    # -- public API ------------------------------------------------------------------------

    @property
    def worker_name(self) -> str:
        """The worker's registered name (or its class name)."""
        return getattr(self.worker, "name", "") or type(self.worker).__name__

    @property
    def run_id(self) -> str:
        """The name of this search's run folder."""
        return self.cache_folder.name

    def __enter__(self) -> Search:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self._cleanup()

    def _new_engine(self) -> Any:
        options = dict(self.engine.options)
        return self._engine_cls(
            self.space,
            num_objectives=self.search_config.num_objectives,
            pool_size=self.search_config.pool_size,
            init_with_true_random_threshold=self.search_config.init_with_true_random_threshold,
            **options,
        )

    def sample(self, num_samples: int = 1) -> list[Any]:
        """`num_samples` configurations from the initial distribution, as the objective gets them.

        Nothing is evaluated and the search is not consumed.
        """
        if isinstance(num_samples, bool) or not isinstance(num_samples, int) or num_samples < 1:
            raise ValueError(f"num_samples={num_samples!r} must be a positive integer.")
        engine = self._new_engine()
        return [self.space.decode(g) for g in engine.sample(num_samples)]

    def start(
        self, num_workers: int | None = None, task_timeout: float | None = None, **kwargs: Any
    ) -> SearchResult:
        """Run the search and return every evaluation as a `SearchResult`.

        Args:
            num_workers: parallel evaluations (None: 1), for workers that respect it.
            task_timeout: seconds after which an evaluation is stopped and scores INVALID, for
                workers that support it.
            **kwargs: passed unchanged to the worker's `run()` (e.g. Ray task options).
        """
        from compileiq._driver import Driver

        if num_workers is not None and (
            isinstance(num_workers, bool) or not isinstance(num_workers, int) or num_workers < 1
        ):
            raise ValueError(
                f"num_workers must be a positive integer; got {num_workers!r}. Pass 1 or more, or "
                "leave it None for 1."
            )
        if task_timeout is not None and (
            isinstance(task_timeout, bool) or not isinstance(task_timeout, (int, float)) or task_timeout <= 0
        ):
            raise ValueError(
                f"task_timeout must be a positive number of seconds; got {task_timeout!r}."
            )
        cls_name = type(self.worker).__name__
        if num_workers is not None and not self.worker.respects_num_workers:
            warnings.warn(f"num_workers is not supported by {cls_name}", UserWarning, stacklevel=2)
        if task_timeout is not None and not self.worker.supports_timeout:
            warnings.warn(f"task_timeout is not supported by {cls_name}", UserWarning, stacklevel=2)
        self.cache_folder.mkdir(parents=True, exist_ok=True)
        driver = Driver(self, num_workers=1 if num_workers is None else num_workers,
                        task_timeout=task_timeout, worker_kwargs=kwargs)
        try:
            self.result = driver.run()
        finally:
            self.current_generation = 0
            self._cleanup()
        return self.result

    def _cleanup(self) -> None:
        if not _keep_cache():
            shutil.rmtree(self.cache_folder, ignore_errors=True)

    def __repr__(self) -> str:
        return (
            f"Search(worker={self.worker_name!r}, engine={self.engine.name!r}, "
            f"generations={self.search_config.generations}, pool_size={self.search_config.pool_size})"
        )
