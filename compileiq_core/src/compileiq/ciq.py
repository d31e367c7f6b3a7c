"""`Search`: ties an objective, a search space, an engine and a worker into a tuning run."""

from __future__ import annotations

import sys
import warnings
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any, Union

from compileiq.engines.base import EngineConfig
from compileiq.errors import SearchAbortedError, SearchSpaceExhaustedError, SearchSpaceExhaustedWarning
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

SearchSpaceInput = Union[dict[str, Any], Path, str, Any, list[Any]]
SearchConfigInput = Union[SearchConfiguration, dict[str, Any], Path, str]
DEFAULT_ENGINE = "genetic"
_FIELDS = (
    "objective_function", "search_space", "search_config", "worker_type", "tracker_config", "debug",
    "cache_folder", "dump_results", "disable_progress_bar", "exit_on_failure", "engine", "constraints",
)


def _versions(*names: str) -> dict[str, str]:
    from importlib.metadata import PackageNotFoundError, version

    out = {"python": sys.version.split()[0]}
    for name in names:
        try:
            out[name] = version(name)
        except (PackageNotFoundError, ValueError):
            continue
    return out


def _remove_if_empty(path: Path) -> None:
    try:
        path.rmdir()
    except OSError:
        pass


def _build_tracker(tracker_config: Any) -> Any:
    if tracker_config is None:
        return None
    from compileiq.tracker import build_tracker

    return build_tracker(tracker_config)


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


def _journal_constraints(folder: Path, meta: dict[str, Any], given: list[Any] | None) -> list[Any] | None:
    """The constraints to resume with: `given`, else the journal's expressions."""
    journaled = meta.get("constraints") or []
    if given is not None:
        return given  # checked against the journal's fingerprint when the run reopens
    callables = [c["callable"] for c in journaled if "callable" in c]
    if callables:
        raise TypeError(
            f"The run in {str(folder)!r} was constrained by callable(s) {callables}, which a journal cannot "
            "hold; pass Search.resume(..., constraints=[...]) with the run's constraints."
        )
    return [c["expression"] for c in journaled] or None


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
        constraints: configurations the engine may propose: expressions over parameter names
            (`"block_size_x * block_size_y <= 1024"`) or callables taking the configuration;
            see `compileiq.search_spaces.constraints`. Checked here, before anything runs.
        cache_folder: where run folders go (default `~/.cache/compileiq`).
        dump_results: a CSV path kept up to date: the results recorded since the last batch are
            appended after each batch (constant work per score; the layout of `SearchResult.save`).
        exit_on_failure: raise when every evaluation of the first batch fails.
        tracker_config: a `compileiq.types.TrackerConfig` (Loguru, MLflow, ...); disabled by default.
        disable_progress_bar: no progress bar (it is also hidden when stderr is not a terminal).
        debug: accepted for compatibility.

    Each `start()` journals every ask and score to `<cache_folder>/<run-id>/journal.sqlite`;
    the run folder is kept (scratch files are removed) and `Search.resume()` continues it.
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
        constraints: list[Any] | None = None,
        _run_folder: str | Path | None = None,
        **unknown: Any,
    ) -> None:
        if unknown:
            import difflib

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
        self.space = SearchSpace.from_input(search_space).with_constraints(constraints)
        self.search_space = search_space
        self.constraints = constraints
        self.tracker_config = tracker_config
        self.debug = bool(debug)
        self.dump_results = Path(dump_results) if dump_results is not None else None
        self.disable_progress_bar = bool(disable_progress_bar)
        self.exit_on_failure = bool(exit_on_failure)
        self.engine = EngineConfig.coerce(engine, DEFAULT_ENGINE)
        self._engine_cls = resolve_engine(self.engine.name)
        seed = self.engine.options.get("seed")
        if seed is None:
            import random

            seed = random.SystemRandom().randrange(2**32)
        self.seed: int = int(seed)
        """The engine's seed: from `EngineConfig(options={"seed": ...})`, else drawn once here (journaled)."""
        self._new_engine()  # reject unknown engine options before anything runs
        self.current_generation = 0
        import weakref

        base = Path(cache_folder) if cache_folder is not None else Path.home() / ".cache" / "compileiq"
        self.cache_base = base
        self._resuming = _run_folder is not None
        self._journal_used = False
        self.cache_folder = Path(_run_folder) if _run_folder is not None else self._new_run_folder()
        from compileiq._nesting import in_worker_process, loading_objective_now

        if not (in_worker_process() or loading_objective_now()):  # start() refuses there: no folder
            self._make_folder()
        self._finalizer = weakref.finalize(self, _remove_if_empty, self.cache_folder)
        self._tracker = _build_tracker(tracker_config)
        self.worker = _build_worker(worker_type, self.cache_folder, self.search_config.normalize)
        self._check_objective_kind()
        self.result: SearchResult | None = None
        self.recommended: Any = None
        """After `start()`: the configuration the engine believes truly best (noise filtered, see
        `GeneticEngine.recommend`), or None when the engine has no such estimate."""

    def _make_folder(self) -> None:
        from compileiq.run_folder import make_run_folder

        make_run_folder(self.cache_folder, None if self._resuming else self.cache_base)

    def _new_run_folder(self) -> Path:
        import uuid
        from datetime import datetime

        stamp = datetime.now().strftime("%Y-%m-%d-%H_%M_%S")
        return self.cache_base / f"{stamp}-{uuid.uuid4()}"

    @classmethod
    def resume(
        cls,
        run_folder: str | Path,
        *,
        objective_function: Callable[..., Any],
        search_space: SearchSpaceInput | None = None,
        worker_type: Any = None,
        tracker_config: Any = None,
        dump_results: str | Path | None = None,
        disable_progress_bar: bool = False,
        debug: bool = False,
        exit_on_failure: bool | None = None,
        constraints: list[Any] | None = None,
    ) -> Search:
        """A Search that continues the run journaled in `run_folder`; call `start()` on it.

        The journal is replayed into a fresh engine with the run's seed (the same candidates,
        checked one by one), only the candidates asked but never scored are evaluated, and the
        search goes on exactly as the uninterrupted run would have. `search_space` (optional) is
        checked against the journal's; `worker_type` defaults to the run's worker name;
        `exit_on_failure` defaults to the run's (pass False to go on after a run aborted because
        its whole first batch failed). `constraints` default to the run's expressions; a run
        with callable constraints needs them passed again (checked against the journal's).
        """
        from compileiq.journal import Journal, JournalError, JournalMismatchError
        from compileiq.run_folder import check_run_folder

        folder = Path(run_folder).expanduser()
        check_run_folder(folder)  # a resume writes to it: say so now if it cannot
        journal = Journal.open(folder)
        try:
            meta = journal.meta()
            info = journal.info()
        finally:
            journal.close()
        if info.status == "running":
            from compileiq.run_folder import RunLockedError, lock_holder

            raise RunLockedError(
                f"The run in {str(folder)!r} is still running (process {lock_holder(folder) or 'unknown'} holds "
                "its run.lock); resuming it now would evaluate its candidates twice. Wait for it to end, or stop "
                "it first."
            )
        try:
            space = SearchSpace.from_json(meta["space"])
            config = SearchConfiguration(**meta["config"])
            engine_meta = meta["engine"]
            engine = EngineConfig(engine_meta["name"], {**engine_meta.get("options", {}), "seed": engine_meta["seed"]})
        except (KeyError, TypeError, ValueError) as exc:
            raise JournalError(
                f"The journal in {str(folder)!r} lacks what a resume needs ({type(exc).__name__}: {exc}); it was "
                "not written by a complete start() of this version."
            ) from None
        constraints = _journal_constraints(folder, meta, constraints)
        if search_space is not None:
            given = SearchSpace.from_input(search_space)
            if given.with_constraints(constraints).fingerprint() != meta.get("space_fingerprint"):
                raise JournalMismatchError(
                    f"The journal in {str(folder)!r} belongs to another search space (fingerprint "
                    f"{str(meta.get('space_fingerprint'))[:12]}, given {given.fingerprint()[:12]}). Resume with "
                    "the space the run started with (or omit search_space to use the journal's copy)."
                )
            space = given
        if worker_type is None:
            worker_type = meta.get("worker_type")
            if not worker_type:
                raise TypeError(
                    f"The run in {str(folder)!r} used the custom worker {meta.get('worker')!r}, which cannot be "
                    "rebuilt from its name; pass Search.resume(..., worker_type=<the worker class or instance>)."
                )
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", FutureWarning)
            return cls(
                objective_function=objective_function, search_space=space, search_config=config,
                worker_type=worker_type, tracker_config=tracker_config, debug=debug, cache_folder=folder.parent,
                dump_results=dump_results, disable_progress_bar=disable_progress_bar,
                exit_on_failure=bool(meta.get("exit_on_failure", True)) if exit_on_failure is None
                else exit_on_failure, engine=engine, constraints=constraints, _run_folder=folder,
            )

    def _check_objective_kind(self) -> None:
        import inspect

        is_async = inspect.iscoroutinefunction(self.objective_function) or inspect.iscoroutinefunction(
            type(self.objective_function).__call__
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

    def _new_engine(self, seed: int | None = None) -> Any:
        options = {**self.engine.options, "seed": self.seed if seed is None else seed}
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
            num_workers: parallel evaluations (None: 1), for workers that respect it; with
                asynchronous scheduling, the candidates kept in flight, for every worker.
            task_timeout: seconds after which an evaluation is stopped and scores INVALID, for
                workers that support it.
            **kwargs: passed unchanged to the worker's `run()` (e.g. Ray task options).
        """
        from compileiq._nesting import check_search_allowed

        check_search_allowed()  # never inside a worker process, nor while an objective's module loads
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
        windowed = self.search_config.scheduling == "asynchronous" and self.worker.supports_submission
        if num_workers is not None and not self.worker.respects_num_workers and not windowed:  # else: the window
            warnings.warn(f"num_workers is not supported by {cls_name}", UserWarning, stacklevel=2)
        if task_timeout is not None and not self.worker.supports_timeout:
            warnings.warn(f"task_timeout is not supported by {cls_name}", UserWarning, stacklevel=2)
        if self._journal_used and not self._resuming:
            self.cache_folder = self._new_run_folder()
            self.worker.cache_folder = self.cache_folder
        self._make_folder()
        from compileiq._run import Run, RunPlan

        run = Run(self.cache_folder, resuming=self._resuming, fingerprint=self.space.fingerprint(),
                  meta=self._journal_meta, plugins=self._session_plugins)
        try:
            with run:
                self._journal_used = True
                assert run.journal is not None
                plan = RunPlan(
                    subject=self, objective=self.objective_function, space=self.space, config=self.search_config,
                    worker=self.worker, worker_name=self.worker_name, engine=self._new_engine(run.seed),
                    engine_name=self.engine.name, exit_on_failure=self.exit_on_failure,
                    max_refills=self.max_refill_batches, dump_results=self.dump_results, run_id=self.run_id,
                    run_folder=self.cache_folder, on_generation=self._on_generation,
                )
                driver = Driver(plan, num_workers=1 if num_workers is None else num_workers,
                                task_timeout=task_timeout, worker_kwargs=kwargs, journal=run.journal,
                                resume=self._resuming)
                self.result = driver.run()
                self.recommended = driver.recommended()
        finally:
            self._resuming = False
            self.current_generation = 0
        return self.result

    def _on_generation(self, generation: int) -> None:
        self.current_generation = generation

    def _journal_meta(self) -> dict[str, Any]:
        """The metadata of a new run's journal."""
        worker_cls = type(self.worker)
        named = bool(getattr(worker_cls, "name", "")) and worker_cls.__module__.split(".")[0] != "__main__"
        return {
            "run_id": self.run_id,
            "config": self.search_config.model_dump(),
            "space": self.space.to_json(),
            "space_fingerprint": self.space.fingerprint(),
            "constraints": self.space.constraints.to_json() if self.space.constraints is not None else [],
            "engine": {"name": self.engine.name, "options": {k: v for k, v in self.engine.options.items()
                                                             if k != "seed"}, "seed": self.seed},
            "worker": self.worker_name,
            "worker_type": self.worker_name if named and self._worker_resolvable() else None,
            "exit_on_failure": self.exit_on_failure,
            "versions": _versions("compileiq-core", "compileiq", *self._distributions()),
            "argv": list(sys.argv),
        }

    def _worker_resolvable(self) -> bool:
        try:
            return resolve_worker(self.worker_name) is type(self.worker)
        except Exception:  # noqa: BLE001 - any failure means "not by name"
            return False

    def _distributions(self) -> list[str]:
        names = []
        for obj in (self.worker, self._engine_cls):
            module = getattr(obj, "__module__", "") or type(obj).__module__
            names.append(module.split(".")[0].replace("_", "-"))
        return names

    def _session_plugins(self) -> list[Any]:
        """This start()'s hook implementations (the Run registers them): the tracker and the progress bar."""
        plugins: list[Any] = []
        if self._tracker is not None:
            self._tracker.search = self
            plugins.append(self._tracker)
        if not self.disable_progress_bar:
            from compileiq._progress import ProgressBar

            if ProgressBar.wanted():
                plugins.append(ProgressBar(self))
        return plugins

    def _cleanup(self) -> None:
        """Remove scratch files; the run folder and its journal stay (unless nothing was journaled)."""
        from compileiq._run import remove_scratch

        remove_scratch(self.cache_folder)

    def __repr__(self) -> str:
        return (
            f"Search(worker={self.worker_name!r}, engine={self.engine.name!r}, "
            f"generations={self.search_config.generations}, pool_size={self.search_config.pool_size})"
        )
