"""compileiq-sequential: evaluates every candidate in the driver process, one after another.

The reference worker: no processes, no timeouts, nothing to set up. Useful for debugging an
objective (breakpoints work) and for objectives that already use every core themselves.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from compileiq.evaluation import evaluate
from compileiq.score import BASELINE_CONFIG, ParamArg, Score
from compileiq.worker import BaseWorker

__all__ = ["SequentialWorker"]
__version__ = "1.0.0"


class SequentialWorker(BaseWorker):
    """Calls the objective for each candidate in turn, in the calling process."""

    name = "sequential"

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
