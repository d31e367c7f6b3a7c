"""`MultiProcessWorker`: one task per candidate on a process pool kept for the whole search."""

from __future__ import annotations

import multiprocessing
import os
import pickle
from collections.abc import Callable
from concurrent.futures import Future, ProcessPoolExecutor, as_completed
from concurrent.futures.process import BrokenProcessPool
from typing import Any

from compileiq.evaluation import (
    FailureWarnings,
    apply_normalization,
    baseline_from,
    evaluate,
    failed_score,
)
from compileiq.score import BASELINE_CONFIG, ParamArg, Score
from compileiq.worker import BaseWorker

__all__ = ["MultiProcessWorker"]

_MODES = ("fork", "forkserver", "spawn")


def start_method() -> str:
    """The start method named by `CIQ_PROCESS_MODE` (forkserver by default)."""
    mode = os.environ.get("CIQ_PROCESS_MODE", "forkserver").strip().lower()
    if mode not in _MODES or mode not in multiprocessing.get_all_start_methods():
        raise ValueError(
            f"CIQ_PROCESS_MODE={mode!r} is not a start method available here; expected one of "
            f"{[m for m in _MODES if m in multiprocessing.get_all_start_methods()]}."
        )
    return mode


class MultiProcessWorker(BaseWorker):
    """Evaluates candidates in parallel on `num_workers` local processes."""

    name = "multiprocess"
    respects_num_workers = True

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._pool: ProcessPoolExecutor | None = None
        self._pool_size = 0
        self._warnings = FailureWarnings()

    def _ensure_pool(self, size: int) -> ProcessPoolExecutor:
        if self._pool is None or self._pool_size != size:
            self.close()
            context = multiprocessing.get_context(start_method())
            self._pool = ProcessPoolExecutor(max_workers=size, mp_context=context)
            self._pool_size = size
        return self._pool

    def close(self) -> None:
        if self._pool is not None:
            self._pool.shutdown(wait=True, cancel_futures=True)
            self._pool = None
            self._pool_size = 0

    def __getstate__(self) -> dict[str, Any]:
        state = dict(self.__dict__)
        state["_pool"] = None
        return state

    def run(
        self,
        *,
        function: Callable[..., Any],
        params_pool: list[ParamArg],
        params_ids: list[int | str],
        num_function_returns: int = 1,
        num_workers: int = 1,
        **kwargs: Any,
    ) -> list[Score]:
        try:
            pickle.dumps(function)
        except Exception as exc:
            raise TypeError(
                f"objective_function {function!r} cannot be pickled to worker processes "
                f"({type(exc).__name__}: {exc}). Define it at module level (not a lambda or a "
                "nested function), or use worker_type='sequential'."
            ) from exc
        pool = self._ensure_pool(max(1, int(num_workers or 1)))
        out: list[Score] = []
        if self.normalize and self.baseline_score is None:
            score = pool.submit(evaluate, function, dict(BASELINE_CONFIG), param_id="baseline",
                                num_objectives=num_function_returns, worker=self.name).result()
            self.baseline_score = baseline_from(score)
            out.append(self.baseline_score)
        futures: dict[Future, tuple[int | str, ParamArg]] = {
            pool.submit(evaluate, function, params, param_id=pid, num_objectives=num_function_returns,
                        worker=self.name): (pid, params)
            for params, pid in zip(params_pool, params_ids)
        }
        batch: list[Score] = []
        broken = False
        for future in as_completed(futures):
            pid, params = futures[future]
            try:
                score = future.result()
            except BrokenProcessPool as exc:
                broken = True
                score = failed_score(pid, params, num_function_returns, "crash",
                                     f"a worker process died while the pool ran this batch ({exc})",
                                     worker=self.name)
            self._warnings.observe(score)
            batch.append(score)
        if broken:
            self.close()
        if self.normalize:
            apply_normalization(batch, self.baseline_score)
        return out + batch
