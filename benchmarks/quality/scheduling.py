"""Search quality per evaluation: asynchronous against generational scheduling, same budget.

    python benchmarks/quality/scheduling.py [--seeds 10] [--first-seed 0] [--window 8] [--pool 16] [--generations 12]
        [--problems sphere,rosenbrock,flags] [--modes generational,asynchronous] [--engine-options JSON]

Each run is a whole `Search` (the real driver and genetic engine) on a quality-benchmark problem
(sphere, rosenbrock, flags). Evaluations are instantaneous but finish in the order a
virtual clock gives them: each candidate draws a lognormal (sigma 1) duration when submitted, and
`collect()` returns the one that finishes first, so asynchronous scheduling sees the arrival
order real workers would produce, without sleeping. Reported: the median over seeds of the final
regret (best found - optimum, as % of the optimum) per mode, and their ratio (asynchronous /
generational; below 1.1 is within 10 %).
"""

from __future__ import annotations

import argparse
import heapq
import json
import math
import os
import random
import statistics
import sys
import warnings
from pathlib import Path
from typing import Any

os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")  # one thread: the machine is shared, and the
os.environ.setdefault("OMP_NUM_THREADS", "1")  # engine's small matrices gain nothing from more
HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

from problems import make_problem  # noqa: E402

from compileiq import INVALID_SCORE, EngineConfig, Search, SearchConfiguration  # noqa: E402
from compileiq.evaluation import evaluate  # noqa: E402
from compileiq.registry import register_worker  # noqa: E402
from compileiq.score import Score  # noqa: E402
from compileiq.worker import BaseWorker  # noqa: E402

PROBLEMS = ("sphere", "rosenbrock", "flags")


class VirtualClockWorker(BaseWorker):
    """Evaluates at once, but hands Scores back in the order a virtual clock finishes them."""

    name = "virtual-clock"
    respects_num_workers = True
    supports_submission = True

    def run(self, *, function: Any, params_pool: list[Any], params_ids: list[Any], num_function_returns: int = 1,
            **kwargs: Any) -> list[Score]:
        return [self.deliver(evaluate(function, p, param_id=i, num_objectives=num_function_returns))
                for p, i in zip(params_pool, params_ids)]

    def open_submissions(self, *, function: Any, num_function_returns: int = 1, **kwargs: Any) -> None:
        self.function, self.now, self.heap = function, 0.0, []
        self.rng = random.Random(kwargs.get("clock_seed", 0))

    def submit(self, params: Any, param_id: Any) -> None:
        finish = self.now + math.exp(self.rng.gauss(0.0, 1.0))
        heapq.heappush(self.heap, (finish, str(param_id), params, param_id))

    def collect(self, timeout: float | None = None) -> list[Score]:
        if not self.heap:
            return []
        self.now, _, params, pid = heapq.heappop(self.heap)
        return [self.deliver(evaluate(self.function, params, param_id=pid, num_objectives=1))]

    def cancel(self) -> None:
        self.heap = []

    def close_submissions(self) -> None:
        self.heap = []


def space_of(problem: Any) -> dict[str, Any]:
    import compileiq.search_spaces.base as ss

    space: dict[str, Any] = {}
    for p in problem.params:
        if p[0] == "range":
            space[p[1]] = ss.range(p[2], p[3], p[4])
        elif p[0] == "choice":
            space[p[1]] = ss.choice(list(p[2]))
        else:
            space[p[1]] = ss.literal(1, knockout_prob=0.5)
    return space


def regret(name: str, seed: int, scheduling: str, args: argparse.Namespace, cache: Path) -> float:
    problem = make_problem(name, seed)

    def objective(config: dict[str, Any]) -> Any:
        value = problem.evaluate(config)
        return INVALID_SCORE if value is None else value

    options = json.loads(getattr(args, "engine_options", "{}"))
    search = Search(objective_function=objective, search_space=space_of(problem),
                    search_config=SearchConfiguration(generations=args.generations, pool_size=args.pool,
                                                      scheduling=scheduling),
                    worker_type="virtual-clock", engine=EngineConfig("genetic", {"seed": seed, **options}),
                    cache_folder=cache, disable_progress_bar=True, exit_on_failure=False)
    frame = search.start(num_workers=args.window, clock_seed=seed).get_results()
    values = [float(v) for v in frame["score_1"] if v != INVALID_SCORE]
    return 100.0 * (min(values) - problem.optimum) / problem.optimum


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, default=10)
    parser.add_argument("--first-seed", type=int, default=0,
                        help="develop on held-out seeds (e.g. 100); report seeds from 0")
    parser.add_argument("--window", type=int, default=8)
    parser.add_argument("--pool", type=int, default=16)
    parser.add_argument("--generations", type=int, default=12)
    parser.add_argument("--problems", default=",".join(PROBLEMS), help="comma-separated problem names")
    parser.add_argument("--modes", default="generational,asynchronous",
                        help="compare these schedulings (the ratio is the second's median over the first's)")
    parser.add_argument("--engine-options", default="{}",
                        help='genetic engine options, JSON (e.g. \'{"thompson": 0}\')')
    parser.add_argument("--cache", default="/tmp/compileiq-bench-quality-scheduling")
    parser.add_argument("--dump", help="also write the per-seed regrets (JSON: problem -> mode -> list) here")
    args = parser.parse_args()
    warnings.simplefilter("ignore")
    register_worker("virtual-clock", VirtualClockWorker)
    cache = Path(args.cache)
    seeds = range(args.first_seed, args.first_seed + args.seeds)
    print(f"budget {args.generations} x {args.pool}, window {args.window}, seeds {seeds[0]}..{seeds[-1]}")
    print(f"{'problem':16} {'generational':>13} {'asynchronous':>13} {'ratio':>7}   (median regret, %)")
    modes = args.modes.split(",")
    dump: dict[str, dict[str, list[float]]] = {}
    for name in args.problems.split(","):
        got = {mode: [regret(name, seed, mode, args, cache) for seed in seeds] for mode in modes}
        dump[name] = got
        if args.dump:
            Path(args.dump).write_text(json.dumps(dump))
        gen, asy = statistics.median(got[modes[0]]), statistics.median(got[modes[-1]])
        ratio = asy / gen if gen > 0 else float("nan")
        # the geometric mean of per-seed ratios (a floor of 1e-3 % keeps a zero regret finite):
        # steadier than the ratio of medians on few seeds
        logs = [math.log(max(a, 1e-3) / max(g, 1e-3)) for g, a in zip(got[modes[0]], got[modes[-1]])]
        geo = math.exp(sum(logs) / len(logs))
        print(f"{name:16} {gen:13.3f} {asy:13.3f} {ratio:7.2f}   geometric mean of ratios {geo:.2f}", flush=True)


if __name__ == "__main__":
    main()
