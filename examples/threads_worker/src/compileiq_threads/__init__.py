"""compileiq-threads: an example third-party worker that evaluates candidates on a thread pool.

Built on compileiq-core's public API only: `BaseWorker` (the contract and its capability
flags), `evaluate` (objective call, failures as INVALID scores) and `measure_baseline`.
"""

from __future__ import annotations

import inspect
import os
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor, as_completed
from typing import Any

from compileiq.evaluation import evaluate
from compileiq.score import BASELINE_CONFIG, ParamArg, Score
from compileiq.worker import BaseWorker

__all__ = ["ThreadPoolWorker"]
__version__ = "0.1.0"


class ThreadPoolWorker(BaseWorker):
    """Evaluates a batch on `num_workers` threads of the driver process (default: one per core)."""

    name = "threads"
    respects_num_workers = True
    supports_timeout = False  # a Python thread cannot be stopped: a hung objective holds its batch
    isolates_crashes = False  # the objective runs in the driver's process: its crash is the search's

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._executor: ThreadPoolExecutor | None = None
        self._threads = 0

    def _pool(self, threads: int) -> ThreadPoolExecutor:
        if self._executor is None or self._threads != threads:
            self.close()
            self._executor = ThreadPoolExecutor(max_workers=threads, thread_name_prefix="compileiq-threads")
            self._threads = threads
        return self._executor

    def close(self) -> None:
        """Wait for the threads and let them go; safe to call twice."""
        if self._executor is not None:
            self._executor.shutdown(wait=True)
            self._executor = None

    def run(
        self,
        *,
        function: Callable[..., Any],
        params_pool: list[ParamArg],
        params_ids: list[int | str],
        num_function_returns: int = 1,
        num_workers: int | None = None,
        **kwargs: Any,
    ) -> list[Score]:
        if inspect.iscoroutinefunction(function):
            raise TypeError(
                f"worker_type='threads' calls the objective {function.__qualname__!r} in threads, but it is "
                "an async def; use worker_type='async' for coroutine objectives."
            )
        if num_workers is not None and (isinstance(num_workers, bool) or not isinstance(num_workers, int)
                                        or num_workers < 1):
            raise ValueError(f"num_workers={num_workers!r} must be a positive int (or None: one per core).")
        scores = self.ensure_baseline(lambda: evaluate(function, dict(BASELINE_CONFIG), param_id="baseline",
                                                       num_objectives=num_function_returns, worker=self.name))
        pool = self._pool(num_workers or os.cpu_count() or 1)
        futures = [pool.submit(evaluate, function, params, param_id=pid, num_objectives=num_function_returns,
                               worker=self.name) for params, pid in zip(params_pool, params_ids)]
        scores.extend(self.deliver(future.result()) for future in as_completed(futures))
        return scores
