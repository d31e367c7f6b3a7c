"""One run of one optimizer on one problem instance; prints a JSON record per run.

Run in the optimizer's own environment (upstream compileiq 1.1.0 shares our import name, so it
lives in a separate venv):

    python optimizers.py --optimizer genetic --problem sphere --seeds 0-19 --budget 200 --pool 20

Each record holds the costs in evaluation order (None for a failure) and the optimizer's CPU
time (ask and tell only; the objective is excluded).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")  # CPU time of tiny BLAS calls, not spin-waits
os.environ.setdefault("OMP_NUM_THREADS", "1")
sys.path.insert(0, str(Path(__file__).parent))

from problems import make_problem  # noqa: E402

Trace = list[Any]
ENGINE_OPTIONS: dict[str, Any] = {}  # extra options of our genetic engine (--engine-options)


class Clock:
    """Accumulates process CPU time spent inside the optimizer."""

    def __init__(self) -> None:
        self.total = 0.0
        self.first_generation: float | None = None  # total when the first generation was told
        self._start = 0.0

    def mark(self, evaluated: int, pool: int) -> None:
        if self.first_generation is None and evaluated >= pool:
            self.first_generation = self.total

    def __enter__(self) -> Clock:
        self._start = time.process_time()
        return self

    def __exit__(self, *exc: object) -> None:
        self.total += time.process_time() - self._start


# -- compileiq (ours or upstream): the same search space through the public builders -------


def _ciq_space(problem: Any) -> dict:
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


def run_genetic(problem: Any, seed: int, budget: int, pool: int | None, engine: str = "genetic") -> tuple[Trace, Clock]:
    """Our engine, driven exactly as `Search` drives it (refills within a generation)."""
    from compileiq.engines.base import Evaluation
    from compileiq.errors import SearchSpaceExhaustedError
    from compileiq.registry import resolve_engine
    from compileiq.search_spaces.space import SearchSpace
    from compileiq.types import default_pool_size

    space = SearchSpace.from_input(_ciq_space(problem))
    pool = pool or default_pool_size(problem.objectives)
    engine_class = resolve_engine(engine)  # imported outside the clock, like the peers' modules
    clock = Clock()
    with clock:
        eng = engine_class(space, num_objectives=problem.objectives, pool_size=pool, seed=seed,
                                     **ENGINE_OPTIONS)
    trace: Trace = []
    generation = 0
    while len(trace) < budget:
        needed, batches = pool, 0
        while needed > 0 and len(trace) < budget and batches <= 50:
            try:
                with clock:
                    genomes = eng.ask(min(needed, budget - len(trace)), generation)
            except SearchSpaceExhaustedError:
                return trace, clock
            evaluations = []
            for genome in genomes:
                value = problem.evaluate(space.decode(genome))
                trace.append(value)
                costs = None if value is None else (value if isinstance(value, tuple) else (value,))
                evaluations.append(Evaluation(genome, costs))
                needed -= value is not None
            with clock:
                eng.tell(evaluations)
            batches += 1
        clock.mark(len(trace), pool)
        generation += 1
    return trace, clock


def run_upstream(problem: Any, seed: int, budget: int, pool: int | None) -> tuple[Trace, Clock]:
    """Upstream CompileIQ 1.1 (amber, NSGA-III) through its ask/tell API and the manual worker."""
    import warnings

    from compileiq.ciq import EngineConfig, Search
    from compileiq.types import SearchConfiguration
    from compileiq.utils.validation import Score

    warnings.simplefilter("ignore")
    objectives = problem.objectives
    # warm-up outside the clock: the first Search imports the engine's modules
    Search(objective_function=lambda c: 0.0, search_space=_ciq_space(problem),
           search_config=SearchConfiguration(generations=1, pool_size=pool, num_objectives=objectives),
           worker_type="manual", engine=EngineConfig(name="amber", options={"seed": seed}),
           disable_progress_bar=True).ask()
    clock = Clock()
    with clock:
        search = Search(
            objective_function=lambda c: 0.0,
            search_space=_ciq_space(problem),
            search_config=SearchConfiguration(generations=10**6, pool_size=pool, num_objectives=objectives),
            worker_type="manual",
            engine=EngineConfig(name="amber", options={"seed": seed}),
            disable_progress_bar=True,
            exit_on_failure=False,
        )
    trace: Trace = []
    while len(trace) < budget:
        with clock:
            candidates = search.ask()
        scores = []
        for cand in candidates:
            value = problem.evaluate(cand.params)
            trace.append(value)
            if value is None:
                score: Any = "*" if objectives == 1 else ["*"] * objectives
            else:
                score = list(value) if isinstance(value, tuple) else value
            scores.append(Score(param_id=cand.param_id, params=cand.params, score=score,
                                num_objectives=objectives))
        with clock:
            search.tell(scores)
        clock.mark(len(trace), pool or 32)
    return trace[:budget], clock


# -- optuna ---------------------------------------------------------------------------------


def _optuna_suggest(trial: Any, problem: Any) -> dict:
    config: dict[str, Any] = {}
    for p in problem.params:
        if p[0] == "range":
            config[p[1]] = trial.suggest_int(p[1], p[2], p[3], step=p[4])
        elif p[0] == "choice":
            config[p[1]] = trial.suggest_categorical(p[1], list(p[2]))
        elif trial.suggest_categorical(p[1], [True, False]):
            config[p[1]] = 1
    return config


def _run_optuna(
    problem: Any, seed: int, budget: int, pool: int, sampler_factory: Callable[[], Any]
) -> tuple[Trace, Clock]:
    """Optuna's ask/tell loop in batches of `pool` (the asked trials stay RUNNING until told, so a
    constant-liar sampler sees them). A failed evaluation is told as a penalty, the worst value
    seen so far per objective (FAIL while nothing has succeeded), so the sampler learns to avoid
    failing regions as our engine does (it ranks failures worst)."""
    import warnings

    import optuna

    optuna.logging.set_verbosity(optuna.logging.ERROR)
    warnings.filterwarnings("ignore", category=optuna.exceptions.ExperimentalWarning)
    clock = Clock()
    directions = ["minimize"] * problem.objectives
    with clock:
        study = optuna.create_study(directions=directions, sampler=sampler_factory())
    trace: Trace = []
    worst: list[float] | None = None
    while len(trace) < budget:
        with clock:
            trials = [study.ask() for _ in range(min(pool, budget - len(trace)))]
            configs = [_optuna_suggest(t, problem) for t in trials]
        values = [problem.evaluate(c) for c in configs]
        trace.extend(values)
        with clock:
            for trial, value in zip(trials, values):
                if value is not None:
                    told = list(value) if isinstance(value, tuple) else [value]
                    worst = told if worst is None else [max(w, v) for w, v in zip(worst, told)]
                    study.tell(trial, told if problem.objectives > 1 else told[0])
                elif worst is None:
                    study.tell(trial, state=optuna.trial.TrialState.FAIL)
                else:
                    study.tell(trial, worst if problem.objectives > 1 else worst[0])
        clock.mark(len(trace), pool)
    return trace, clock


def run_tpe(problem: Any, seed: int, budget: int, pool: int | None) -> tuple[Trace, Clock]:
    """Optuna TPE at its strongest for this budget: multivariate with grouped (conditional)
    parameters, and constant liar so that the trials of one batch spread out."""
    import optuna

    return _run_optuna(problem, seed, budget, pool or 1, lambda: optuna.samplers.TPESampler(
        seed=seed, multivariate=True, group=True, constant_liar=True))


def run_nsga2(problem: Any, seed: int, budget: int, pool: int | None) -> tuple[Trace, Clock]:
    import optuna

    size = pool or 20
    return _run_optuna(problem, seed, budget, size,
                       lambda: optuna.samplers.NSGAIISampler(seed=seed, population_size=size))


RUNNERS: dict[str, Callable[..., tuple[Trace, Clock]]] = {
    "genetic": run_genetic,
    "random": lambda problem, seed, budget, pool: run_genetic(problem, seed, budget, pool, engine="random"),
    "upstream": run_upstream,
    "tpe": run_tpe,
    "nsga2": run_nsga2,
}


def _seeds(text: str) -> list[int]:
    if "-" in text:
        low, high = text.split("-")
        return list(range(int(low), int(high) + 1))
    return [int(s) for s in text.split(",")]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--optimizer", required=True, choices=sorted(RUNNERS))
    parser.add_argument("--problem", required=True)
    parser.add_argument("--seeds", default="0-19")
    parser.add_argument("--budget", type=int, default=200)
    parser.add_argument("--pool", type=int, default=0, help="0: the optimizer's default")
    parser.add_argument("--split-timing", action="store_true", help="report only times, not traces")
    parser.add_argument("--engine-options", default="{}", help="JSON options for our genetic engine")
    args = parser.parse_args()
    ENGINE_OPTIONS.update(json.loads(args.engine_options))
    for seed in _seeds(args.seeds):
        problem = make_problem(args.problem, seed)
        trace, clock = RUNNERS[args.optimizer](problem, seed, args.budget, args.pool or None)
        record: dict[str, Any] = {"optimizer": args.optimizer, "problem": args.problem, "seed": seed,
                                  "pool": args.pool, "budget": args.budget, "cpu": clock.total}
        if args.split_timing:
            record["cpu_after_first"] = clock.total - (clock.first_generation or 0.0)
            record["evaluations"] = len(trace)
        else:
            record["trace"] = trace
        print(json.dumps(record), flush=True)


if __name__ == "__main__":
    main()
