"""compileiq-sequential: evaluates every candidate in the driver process, one after another.

The reference worker: no processes, no timeouts, nothing to set up. Useful for debugging an
objective (breakpoints work) and for objectives that already use every core themselves.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable
from typing import Any

from compileiq.evaluation import evaluate
from compileiq.score import BASELINE_CONFIG, ParamArg, Score
from compileiq.worker import BaseWorker

__all__ = ["SequentialWorker"]
__version__ = "1.0.0"


class SequentialWorker(BaseWorker):
    """Calls the objective for each candidate in turn, in the calling process.

    Implements the submission contract (asynchronous scheduling): `submit` queues, `collect`
    evaluates the oldest queued candidate and returns its Score.
    """

    name = "sequential"
    supports_submission = True
    _submitted: deque[tuple[ParamArg, int | str]] | None = None
    _function: tuple[Callable[..., Any], int] | None = None

    def run(
        self,
        *,
        function: Callable[..., Any],
        params_pool: list[ParamArg],
        params_ids: list[int | str],
        num_function_returns: int = 1,
        **kwargs: Any,
    ) -> list[Score]:
        scores = self.ensure_baseline(lambda: evaluate(function, dict(BASELINE_CONFIG), param_id="baseline",
                                                       num_objectives=num_function_returns, worker=self.name))
        for params, pid in zip(params_pool, params_ids):
            score = evaluate(function, params, param_id=pid, num_objectives=num_function_returns, worker=self.name)
            scores.append(self.deliver(score))
        return scores

    # -- submission contract -------------------------------------------------------------------

    def open_submissions(self, *, function: Callable[..., Any], num_function_returns: int = 1,
                         **kwargs: Any) -> None:
        self._function = (function, num_function_returns)
        self._submitted = deque()

    def submit(self, params: ParamArg, param_id: int | str) -> None:
        if self._submitted is None:
            raise RuntimeError("SequentialWorker.submit() before open_submissions(); open them first.")
        self._submitted.append((params, param_id))

    def collect(self, timeout: float | None = None) -> list[Score]:
        if not self._submitted or self._function is None:
            return []
        function, num_objectives = self._function
        params, pid = self._submitted.popleft()
        return [self.deliver(evaluate(function, params, param_id=pid, num_objectives=num_objectives,
                                      worker=self.name))]

    def cancel(self) -> None:
        if self._submitted is not None:
            self._submitted.clear()

    def close_submissions(self) -> None:
        self._submitted = None
        self._function = None
