"""Configuration and enums users touch: `SearchConfiguration`, `ProblemType`, `WorkerTypes` and more."""

from __future__ import annotations

import warnings
from enum import StrEnum
from pathlib import Path
from typing import Any

from compileiq.errors import ConfigurationError
from compileiq.score import (
    BASELINE_CONFIG,
    INVALID_SCORE,
    MultiScore,
    ParamArg,
    Score,
    SingleScore,
)
from compileiq.worker import BaseWorker, Worker

__all__ = [
    "BASELINE_CONFIG",
    "INVALID_SCORE",
    "BaseWorker",
    "MultiScore",
    "MultiScoreComparison",
    "ParamArg",
    "ProblemType",
    "Score",
    "SearchConfiguration",
    "SingleScore",
    "Worker",
    "WorkerTypes",
]


class ProblemType(StrEnum):
    """Whether the search minimizes or maximizes the objective."""

    MIN = "min"
    MAX = "max"


class MultiScoreComparison(StrEnum):
    """How `SearchResult.get_best_result` ranks rows with several objectives."""

    AVERAGE = "avg"
    STDDEV = "stddev"
    PARETO = "pareto_front"


class WorkerTypes(StrEnum):
    """The first-party workers by name; `DEFAULT` is `NATIVE` (the multiprocess worker).

    `worker_type` also takes any installed worker's name as a plain string.
    """

    NATIVE = "native"
    DEFAULT = "native"
    ISOLATED = "isolated"
    ASYNC = "async"
    RAY = "ray"
    SEQUENTIAL = "sequential"

    def worker_type(self) -> type[BaseWorker]:
        """The worker class this name resolves to (imports only that plugin)."""
        from compileiq.registry import resolve_worker

        return resolve_worker(self.value)


_RETIRED = {
    "cull_size": "survivor selection is the engine's job",
    "mutate_rate": "closest engine option: EngineConfig('genetic', {'mutation_probability': p})",
    "objective_weights": "no engine uses reference-direction weights",
    "enable_large_fail_pool": "failures are always refilled one-for-one",
}


def _as_int(name: str, value: object, minimum: int) -> int:
    if isinstance(value, bool):
        raise ConfigurationError(f"{name}={value!r} is a bool; expected an int >= {minimum}.")
    if isinstance(value, str):
        try:
            value = int(value.strip())
        except ValueError:
            raise ConfigurationError(
                f"{name}={value!r} is not an integer; expected an int >= {minimum}."
            ) from None
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    if not isinstance(value, int):
        raise ConfigurationError(f"{name}={value!r} is not an integer; expected an int >= {minimum}.")
    if value < minimum:
        raise ConfigurationError(f"{name}={value} is too small; expected an int >= {minimum}.")
    return value


def default_pool_size(num_objectives: int) -> int:
    """The pool size used when none is given: 16 up to 3 objectives, `4n + 4` beyond.

    Chosen by measurement (docs/benchmarks.md, "Choosing the default pool size"): with the
    genetic engine at a budget of 200 evaluations, pools of 16 gave the lowest or near-lowest
    median regret on all four benchmark problems; 6 and 10 leave too little per generation
    for breeding and the surrogate, 32 (upstream's default) spends too many evaluations per
    generation before the engine can learn from them. More objectives need a larger pool
    to hold a spread of the front.
    """
    return max(16, 4 * num_objectives + 4)


def default_cull_size(pool_size: int, num_objectives: int) -> int:
    """75% of the pool, even, leaving at least 1 + 2n survivors, never below 2."""
    cull = int(pool_size * 0.75)
    cull -= cull % 2
    cap = pool_size - (1 + 2 * num_objectives)
    cap -= cap % 2
    return max(min(cull, cap), 2)


SCHEDULING_MODES = ("generational", "asynchronous")
"""The values of `SearchConfiguration.scheduling`."""


class SearchConfiguration:
    """What to optimize and for how long.

    Args:
        generations: how many generations to run (required, >= 1).
        problem_type: "min" or "max".
        normalize: divide every score by the baseline's (the objective on `BASELINE_CONFIG`).
        num_objectives: how many values the objective returns.
        pool_size: evaluations per generation (>= 6); derived from `num_objectives` when None.
        init_with_true_random_threshold: the share of initial samples of a seeded range drawn
            inside its `[seed_low, seed_high]` window.
        scheduling: "generational" (the default: the engine asks for `pool_size` candidates and
            the next generation starts when the slowest has finished) or "asynchronous" (the
            search keeps `num_workers` candidates in flight and asks the engine for one more as
            each finishes; same budget, `generation` counts completed groups of `pool_size`).
            Asynchronous needs a worker with the submission contract
            (`BaseWorker.supports_submission`); others run generational batches.
        cull_size, mutate_rate, objective_weights, enable_large_fail_pool: retired upstream
            settings, accepted and ignored (Search warns with a FutureWarning when set).
    """

    __slots__ = (
        "problem_type",
        "normalize",
        "num_objectives",
        "generations",
        "pool_size",
        "cull_size",
        "mutate_rate",
        "objective_weights",
        "init_with_true_random_threshold",
        "enable_large_fail_pool",
        "scheduling",
        "_explicit",
    )

    def __init__(
        self,
        *,
        generations: int,
        problem_type: ProblemType | str = ProblemType.MIN,
        normalize: bool = False,
        num_objectives: int = 1,
        pool_size: int | None = None,
        cull_size: int | None = None,
        mutate_rate: float = 0.25,
        objective_weights: list[float] | None = None,
        init_with_true_random_threshold: float | None = 0.9,
        enable_large_fail_pool: bool = True,
        scheduling: str = "generational",
        **unknown: Any,
    ) -> None:
        if unknown:
            import difflib

            valid = [f for f in self.__slots__ if not f.startswith("_")]
            hints = []
            for key in unknown:
                close = difflib.get_close_matches(key, valid, n=1)
                hints.append(f"{key!r}" + (f" (did you mean {close[0]!r}?)" if close else ""))
            raise ConfigurationError(
                f"Unknown SearchConfiguration field(s): {', '.join(hints)}. "
                f"Valid fields: {', '.join(valid)}."
            )
        try:
            self.problem_type = ProblemType(problem_type)
        except ValueError:
            raise ConfigurationError(
                f"problem_type={problem_type!r} is not valid; expected 'min' or 'max' (lowercase)."
            ) from None
        if not isinstance(normalize, bool):
            raise ConfigurationError(f"normalize={normalize!r} is not a bool; pass True or False.")
        self.normalize = normalize
        self.num_objectives = _as_int("num_objectives", num_objectives, 1)
        self.generations = _as_int("generations", generations, 1)
        self._explicit = {
            "pool_size": pool_size is not None,
            "cull_size": cull_size is not None,
        }
        self.pool_size = (
            default_pool_size(self.num_objectives) if pool_size is None else _as_int("pool_size", pool_size, 6)
        )
        if cull_size is None:
            self.cull_size = default_cull_size(self.pool_size, self.num_objectives)
        else:
            self.cull_size = _as_int("cull_size", cull_size, 2)
            if self.cull_size % 2:
                raise ConfigurationError(f"cull_size={cull_size} must be a multiple of 2.")
            if self.cull_size >= self.pool_size:
                raise ConfigurationError(
                    f"cull_size={cull_size} must be less than pool_size={self.pool_size}."
                )
        if isinstance(mutate_rate, bool) or not isinstance(mutate_rate, (int, float)) or not 0 < mutate_rate < 1:
            raise ConfigurationError(f"mutate_rate={mutate_rate!r} must be a number strictly between 0 and 1.")
        self.mutate_rate = float(mutate_rate)
        if objective_weights is not None:
            if not isinstance(objective_weights, (list, tuple)) or not all(
                isinstance(w, (int, float)) and not isinstance(w, bool) for w in objective_weights
            ):
                raise ConfigurationError(
                    f"objective_weights={objective_weights!r} must be a list of numbers or None."
                )
            objective_weights = [float(w) for w in objective_weights]
        self.objective_weights = objective_weights
        threshold = init_with_true_random_threshold
        if threshold is not None:
            if isinstance(threshold, bool) or not isinstance(threshold, (int, float)) or not 0 <= threshold <= 1:
                raise ConfigurationError(
                    f"init_with_true_random_threshold={threshold!r} must be a number in [0, 1] or None."
                )
            threshold = float(threshold)
        self.init_with_true_random_threshold = threshold
        if not isinstance(enable_large_fail_pool, bool):
            raise ConfigurationError(
                f"enable_large_fail_pool={enable_large_fail_pool!r} is not a bool; pass True or False."
            )
        self.enable_large_fail_pool = enable_large_fail_pool
        if scheduling not in SCHEDULING_MODES:
            raise ConfigurationError(
                f"scheduling={scheduling!r} is not valid; expected one of {', '.join(map(repr, SCHEDULING_MODES))}."
            )
        self.scheduling = scheduling

    # -- conversions -------------------------------------------------------------------------

    @classmethod
    def coerce(cls, value: SearchConfiguration | dict[str, Any] | str | Path) -> SearchConfiguration:
        """Accept a configuration, a dict of fields, or the path of a legacy `.config` file."""
        if isinstance(value, cls):
            return value
        if isinstance(value, dict):
            return cls(**value)
        if isinstance(value, (str, Path)):
            return cls.from_legacy(str(value))
        raise ConfigurationError(
            f"search_config={value!r} ({type(value).__name__}) is not usable; pass a "
            "SearchConfiguration, a dict of its fields, or the path of a legacy .config file."
        )

    @classmethod
    def from_legacy(cls, path: str | Path) -> SearchConfiguration:
        """Read upstream's Lisp-like `.config` file (`(key . value)` per line)."""
        from compileiq._legacy import read_legacy_config

        return cls(**read_legacy_config(path, valid=cls.field_names()))

    def to_legacy(self) -> str:
        """Write this configuration in upstream's legacy `.config` format."""
        from compileiq._legacy import write_legacy_config

        return write_legacy_config(self.model_dump())

    @classmethod
    def field_names(cls) -> tuple[str, ...]:
        """The public field names."""
        return tuple(f for f in cls.__slots__ if not f.startswith("_"))

    def model_dump(self) -> dict[str, Any]:
        """The fields as a plain dict (enums as their values)."""
        out = {name: getattr(self, name) for name in self.field_names()}
        out["problem_type"] = self.problem_type.value
        return out

    to_dict = model_dump

    def retired_fields_set(self) -> list[str]:
        """Retired fields whose value differs from the default (what Search warns about)."""
        defaults = {
            "cull_size": default_cull_size(self.pool_size, self.num_objectives),
            "mutate_rate": 0.25,
            "objective_weights": None,
            "enable_large_fail_pool": True,
        }
        return [f for f, d in defaults.items() if getattr(self, f) != d]

    def warn_retired(self) -> None:
        """Emit one FutureWarning naming the retired fields that were set."""
        fields = self.retired_fields_set()
        if fields:
            details = "; ".join(f"{f} ({_RETIRED[f]})" for f in fields)
            warnings.warn(
                f"SearchConfiguration settings that have no effect are ignored: {details}.",
                FutureWarning,
                stacklevel=3,
            )

    def __eq__(self, other: object) -> bool:
        return isinstance(other, SearchConfiguration) and self.model_dump() == other.model_dump()

    __hash__ = None  # type: ignore[assignment]

    def __repr__(self) -> str:
        fields = ", ".join(f"{k}={v!r}" for k, v in self.model_dump().items())
        return f"SearchConfiguration({fields})"


_TRACKER_NAMES = {
    "BaseTracker": "compileiq.tracker",
    "DefaultTrackerConfig": "compileiq.tracker_config",
    "DisabledTrackerConfig": "compileiq.tracker_config",
    "LoguruTrackerConfig": "compileiq.tracker_config",
    "MLflowTrackerConfig": "compileiq.tracker_config",
    "TrackerConfig": "compileiq.tracker_config",
    "TrackerTypes": "compileiq.tracker_config",
}


def __getattr__(name: str) -> Any:
    """Tracker names load on first use: `import compileiq` stays light."""
    if name in _TRACKER_NAMES:
        from importlib import import_module

        return getattr(import_module(_TRACKER_NAMES[name]), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
