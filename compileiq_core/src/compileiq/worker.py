"""`BaseWorker`, the contract every execution backend implements, and lazy access to the workers.

`from compileiq.worker import RayWorker` (and `MultiProcessWorker`, `IsoMultiProcessWorker`,
`AsyncWorker`, `SequentialWorker`) resolves through the worker registry: only that plugin is
imported, and a missing one raises an ImportError naming the package to install. Those lazy
names are not in `__all__`, so `from compileiq.worker import *` never needs ray.

Lifecycle of a worker, in call order: `create()` (or the constructor) when the `Search` is
built; `setup()` when `start()` begins; `run()` once per batch; `close()` when `start()` ends,
whatever happened. `setup()` and `close()` may be called again for a second `start()`.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, ClassVar

from compileiq.score import (
    BASELINE_CONFIG,
    INVALID_SCORE,
    ParamArg,
    Score,
    invalidate_score,
    normalize_scores,
)

__all__ = ["BASELINE_CONFIG", "INVALID_SCORE", "PLUGIN_API", "BaseWorker", "Score", "ScoreSink", "Worker"]

PLUGIN_API = 1
"""The worker plugin API version this core provides; a worker declaring another is refused."""

ScoreSink = Callable[[Score], None]
"""What the core hands a worker (`BaseWorker.score_sink`) to receive each Score as it arrives."""

_LAZY_WORKERS = {
    "MultiProcessWorker": "multiprocess",
    "IsoMultiProcessWorker": "isolated",
    "AsyncWorker": "async",
    "RayWorker": "ray",
    "SequentialWorker": "sequential",
}


class BaseWorker(ABC):
    """Evaluates batches of configurations by calling the user's objective.

    Subclasses implement `run()`. Class attributes declare the worker's identity and
    capabilities, in this one place (`Search` and the conformance kit read them): `name` (its
    `worker_type` string, equal to its entry-point name), `plugin_api`,
    `respects_num_workers`, `supports_timeout`, `requires_async_objective`,
    `isolates_crashes`, `reports_exit_status`, `streams_scores`, `validates_start_kwargs` and
    `one_baseline_per_search`.
    Heavy imports and global state (start methods, `ray.init`) belong in `setup()`.
    """

    name: ClassVar[str] = ""
    plugin_api: ClassVar[int] = PLUGIN_API
    respects_num_workers: bool = False
    supports_timeout: bool = False
    requires_async_objective: ClassVar[bool] = False
    isolates_crashes: ClassVar[bool] = False
    """True when a candidate that kills its process (exit, signal) scores INVALID instead of ending the search."""
    reports_exit_status: ClassVar[bool] = True
    """True when a crashed candidate's reason names the exit code or signal (False: the backend,
    e.g. Ray, only reports that the process died)."""
    streams_scores: ClassVar[bool] = True
    """True when every Score goes through `report_score`/`deliver` (to `score_sink`) as it arrives
    (False: Scores come only with run()'s return, so in-flight results are lost on a driver crash)."""
    validates_start_kwargs: ClassVar[bool] = False
    """True when unknown `start()` keywords are refused with a TypeError naming them (e.g. Ray's
    task options); False: unknown keywords are accepted and ignored."""
    one_baseline_per_search: ClassVar[bool] = True
    """False for a worker that measures a baseline per node or device (e.g. Ray)."""
    supports_submission: ClassVar[bool] = False
    """True when the worker implements the optional submission contract (`open_submissions`,
    `submit`, `collect`, `cancel`, `close_submissions`): asynchronous scheduling then keeps every
    worker busy. A worker without it runs generational batches through `run()`."""

    def __init__(
        self,
        cache_folder: str | Path | None = None,
        normalize: bool = False,
        tracker: Any = None,
        respects_num_workers: bool | None = None,
        supports_timeout: bool | None = None,
    ) -> None:
        self.cache_folder = Path(cache_folder) if cache_folder is not None else None
        self.normalize = bool(normalize)
        self.tracker = tracker
        self.baseline_score: Any = None
        self.current_generation = 0
        if respects_num_workers is not None:
            self.respects_num_workers = bool(respects_num_workers)
        if supports_timeout is not None:
            self.supports_timeout = bool(supports_timeout)

    @classmethod
    def create(cls, cache_folder: str | Path | None, normalize: bool, tracker: Any = None) -> BaseWorker:
        """Build the worker the way `Search` does; override to add arguments of your own."""
        return cls(cache_folder=cache_folder, normalize=normalize, tracker=tracker)

    @property
    def cache_dir(self) -> Path | None:
        """Scratch folder of the search (alias of `cache_folder`)."""
        return self.cache_folder

    @cache_dir.setter
    def cache_dir(self, value: str | Path | None) -> None:
        self.cache_folder = Path(value) if value is not None else None

    def setup(self) -> None:  # noqa: B027 - optional hook, a no-op by default
        """Acquire resources (process pools, cluster connections). Called by `start()`."""

    def close(self) -> None:  # noqa: B027 - optional hook, a no-op by default
        """Release everything `setup()` or `run()` acquired; safe to call twice."""

    def __enter__(self) -> BaseWorker:
        self.setup()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    @abstractmethod
    def run(
        self,
        *,
        function: Callable[..., Any],
        params_pool: list[ParamArg],
        params_ids: list[int | str],
        num_function_returns: int = 1,
        **kwargs: Any,
    ) -> list[Score]:
        """Evaluate `function` on every configuration of `params_pool`.

        Return one `Score` per id of `params_ids`, in any order, plus optional baseline Scores
        (`is_baseline=True`). `kwargs` carries `num_workers`, `task_timeout`, `tracker` and every
        extra keyword given to `Search.start()`.
        """

    score_sink: ScoreSink | None = None
    """Where each finished Score goes the moment it is known (in the driver process).

    The core sets it for the duration of a search (`Search.start()` hands the worker its sink
    before the first `run()` and takes it back when the search ends); it is None when a user
    calls `run()` directly. Workers do not call it themselves: they call `report_score` (or
    `deliver`), which forwards to it. The search records each Score once, on arrival, keyed by
    `param_id` (baselines by their node and GPU): a Score both reported and returned from
    `run()` is recorded once, and a Score only returned is recorded when `run()` returns.
    """

    def report_score(self, score: Score) -> None:
        """Hand one finished Score to the search the moment it arrives (in the driver process).

        Optional but recommended: a worker that calls this for every Score (baselines too) as
        it arrives lets the search journal each result at once, so a crash loses nothing that
        finished. `run()` still returns every Score (for users who call it directly).
        """
        sink = self.score_sink
        if sink is not None:
            sink(score)

    def report_scores(self, scores: Sequence[Score]) -> None:
        """Hand several Scores that finished together to the search at once.

        The search journals them in one transaction (cheaper than one each) before it does
        anything else with them, so a crash loses none once this returns. Same effect as
        `report_score` for each, in order; for a worker that reads several results at a time.
        """
        sink = self.score_sink
        if sink is None or not scores:
            return
        many = getattr(sink, "many", None)
        if many is not None:
            many(list(scores))
        else:
            for score in scores:
                sink(score)

    def ensure_baseline(self, measure: Callable[[], Score]) -> list[Score]:
        """The baseline step every worker shares: measure it once per search when normalizing.

        When `normalize` is on and no baseline is known yet, calls `measure()` (the worker's
        own way to evaluate `BASELINE_CONFIG` with `param_id="baseline"`), turns the result
        into the baseline Score (RuntimeError naming the fix if it failed), keeps it as
        `baseline_score`, reports it, and returns it in a list to prepend to `run()`'s return;
        otherwise returns `[]`. A resumed search sets `baseline_score` from its journal first.
        """
        if not self.normalize or self.baseline_score is not None:
            return []
        from compileiq.evaluation import baseline_from

        baseline = baseline_from(measure())
        self.baseline_score = baseline
        self.report_score(baseline)
        return [baseline]

    # -- the optional submission contract (asynchronous scheduling) -----------------------------

    def open_submissions(self, *, function: Callable[..., Any], num_function_returns: int = 1,
                         **kwargs: Any) -> None:
        """Get ready for single submissions of `function` (kwargs as `run()` gets them:
        `num_workers`, `task_timeout`, and the user's `start()` keywords). Called once per
        `start()` in asynchronous mode, after `setup()`; `close_submissions()` ends it."""
        raise NotImplementedError(f"{type(self).__name__} does not implement the submission contract")

    def submit(self, params: ParamArg, param_id: int | str) -> None:
        """Start evaluating one configuration; return at once. Its Score comes from `collect()`.

        The core keeps at most `num_workers` submissions in flight; the worker may queue beyond
        its free capacity. A candidate's `task_timeout` runs from when it starts, not when queued.
        """
        raise NotImplementedError(f"{type(self).__name__} does not implement the submission contract")

    def collect(self, timeout: float | None = None) -> list[Score]:
        """The Scores of submissions finished since the last call, in the order they finished
        (each finished with `deliver`: normalized and reported). Waits up to `timeout` seconds
        (None: until at least one finishes) when none is ready; `[]` when nothing is in flight
        or the wait ran out. Timeouts and crashes come back as INVALID Scores, as from `run()`."""
        raise NotImplementedError(f"{type(self).__name__} does not implement the submission contract")

    def cancel(self) -> None:
        """Stop every submission in flight (their Scores are never collected); idempotent."""
        raise NotImplementedError(f"{type(self).__name__} does not implement the submission contract")

    def close_submissions(self) -> None:
        """End the submissions opened by `open_submissions` (cancelling any still in flight);
        the worker stays set up for `run()` or another `open_submissions`. Safe to call twice."""
        raise NotImplementedError(f"{type(self).__name__} does not implement the submission contract")

    def deliver(self, score: Score) -> Score:
        """Finish a Score as it arrives: normalize it against the baseline, then `report_score` it.

        Workers call this for each candidate's Score the moment it is known; a raw baseline
        measurement passes through untouched (report the final baseline Score yourself).
        """
        if (
            self.normalize
            and isinstance(self.baseline_score, Score)
            and not score.is_baseline
            and score.param_id != "baseline"
        ):
            from compileiq.evaluation import apply_normalization

            apply_normalization([score], self.baseline_score)
        self.report_score(score)
        return score

    def deliver_all(self, scores: Sequence[Score]) -> list[Score]:
        """`deliver` for several Scores that finished together: each normalized, then all
        reported at once (`report_scores`). A worker that overrides `deliver` gets it per Score."""
        if type(self).deliver is not BaseWorker.deliver:
            return [self.deliver(score) for score in scores]
        baseline = self.baseline_score
        if self.normalize and isinstance(baseline, Score):
            from compileiq.evaluation import apply_normalization

            apply_normalization([s for s in scores if not s.is_baseline and s.param_id != "baseline"], baseline)
        self.report_scores(scores)
        return list(scores)

    normalize_scores = staticmethod(normalize_scores)
    invalidate_score = staticmethod(invalidate_score)


Worker = BaseWorker
"""Upstream's name for `BaseWorker`."""


def __getattr__(attr: str) -> type[BaseWorker]:
    if attr in _LAZY_WORKERS:
        from compileiq.registry import resolve_worker

        return resolve_worker(_LAZY_WORKERS[attr])
    raise AttributeError(f"module {__name__!r} has no attribute {attr!r}")


def __dir__() -> list[str]:
    return sorted([*globals(), *_LAZY_WORKERS])
