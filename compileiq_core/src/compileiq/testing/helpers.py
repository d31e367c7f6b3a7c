"""Helpers for a worker's own tests: run one batch, keep a worker running, scale time bounds.

Light on purpose (no pytest import): plugins' tests and the conformance kit share them.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from typing import Any, TypeVar

from compileiq.score import Score
from compileiq.testing.processes import descendants, leftover_processes
from compileiq.worker import BaseWorker

__all__ = ["TIME_SCALE_VARIABLE", "by_id", "run_batch", "running_worker", "time_scale"]

TIME_SCALE_VARIABLE = "COMPILEIQ_TEST_TIME_SCALE"
"""Environment variable multiplying every time tolerance of the kits (e.g. 3 on a slow machine)."""

W = TypeVar("W", bound=BaseWorker)


def time_scale(default: float = 1.0) -> float:
    """The multiplier of time tolerances: `COMPILEIQ_TEST_TIME_SCALE` if set, else `default`."""
    raw = os.environ.get(TIME_SCALE_VARIABLE, "").strip()
    if not raw:
        return default
    try:
        value = float(raw)
    except ValueError:
        raise ValueError(f"{TIME_SCALE_VARIABLE}={raw!r} is not a number; set it to a factor such as 2 or 3.") from None
    if not value > 0:
        raise ValueError(f"{TIME_SCALE_VARIABLE}={raw!r} must be positive; set it to a factor such as 2 or 3.")
    return value


def by_id(scores: Sequence[Score]) -> dict[Any, Score]:
    """The candidates' Scores by `param_id` (baselines left out)."""
    return {s.param_id: s for s in scores if not s.is_baseline}


def run_batch(
    worker: BaseWorker, function: Callable[..., Any], pool: Sequence[Any], *, ids: Sequence[Any] | None = None,
    num_workers: int | None = 2, **kwargs: Any,
) -> dict[Any, Score]:
    """`worker.run()` one batch as the driver does (ids 0..n-1 unless given); Scores by id."""
    ids = list(range(len(pool))) if ids is None else list(ids)
    scores = worker.run(function=function, params_pool=list(pool), params_ids=ids,
                        **{"num_workers": num_workers, **kwargs})
    return by_id(scores)


@contextmanager
def running_worker(cls: type[W], *args: Any, grace_s: float = 3.0, **kwargs: Any) -> Iterator[W]:
    """`cls(*args, **kwargs)`, set up; closed on exit, which then checks (on Linux) that no process
    it started outlives `close()` by more than `grace_s` (scaled by `time_scale()`)."""
    before = set(descendants())
    worker = cls(*args, **kwargs)
    worker.setup()
    try:
        yield worker
    finally:
        worker.close()
    if sys.platform.startswith("linux"):
        left = leftover_processes(before, timeout=grace_s * time_scale())
        assert not left, f"{cls.__name__}.close() left processes behind: {left}"
