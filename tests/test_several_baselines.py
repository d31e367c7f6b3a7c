"""A worker may measure several baselines in one batch (Ray: one per node or per GPU)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from objectives import quadratic

import compileiq.search_spaces.base as ss
from compileiq import Score, Search, SearchConfiguration
from compileiq.evaluation import apply_normalization, evaluate, measure_baseline
from compileiq.worker import BaseWorker


class TwoNodes(BaseWorker):
    """Baselines "node a" and "node b" in the first batch, streaming each Score."""

    name = "two-nodes"

    def run(self, *, function, params_pool, params_ids, num_function_returns=1, **kwargs: Any) -> list[Score]:
        out: list[Score] = []
        if self.baseline_score is None:
            self.baseline_score = {}
            for node in ("a", "b"):
                base = measure_baseline(function, num_function_returns, node_id=node)
                self.baseline_score[node] = base
                self.report_score(base)
                out.append(base)
        for params, pid in zip(params_pool, params_ids):
            score = evaluate(function, params, param_id=pid, num_objectives=num_function_returns)
            apply_normalization([score], self.baseline_score["a"])
            self.report_score(score)
            out.append(score)
        return out


def test_every_baseline_of_a_batch_is_recorded_once(cache_dir: Path) -> None:
    search = Search(objective_function=quadratic, search_space={"x": ss.range(-30, 30), "y": ss.choice([1, 2])},
                    search_config=SearchConfiguration(generations=2, pool_size=6, normalize=True),
                    worker_type=TwoNodes, cache_folder=cache_dir)
    frame = search.start().get_results()
    assert len(frame) == 12 + 2 and frame["is_baseline"].sum() == 2
    assert sorted('"node_id": "a"' in m for m in frame[frame["is_baseline"]]["metadata"]) == [False, True]
