"""The optimizers compared on replayed kernel spaces, each behind `run(kernel, noisy, seed, budget)`.

Each returns a `Run`: the evaluated configurations in order (failed and infeasible ones count
against the budget), the incumbent it reports at each checkpoint, and its CPU time (the
optimizer's own work; the replayed objective is a dictionary look-up).
"""

from __future__ import annotations

import contextlib
import functools
import heapq
import json
import math
import os
import random
import tempfile
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from replay import Kernel, Replay

CHECKPOINTS = (50, 100, 200)


@dataclass
class Run:
    trace: list[tuple[tuple, float | None]]
    incumbents: dict[int, tuple | None] = field(default_factory=dict)
    cpu: float = 0.0


def best_measured(trace: list[tuple[tuple, float | None]], upto: int) -> tuple | None:
    """The configuration with the lowest measured value among the first `upto` evaluations."""
    best: tuple | None = None
    value = float("inf")
    for config, measured in trace[:upto]:
        if measured is not None and measured < value:
            best, value = config, measured
    return best


# -- compileiq ----------------------------------------------------------------------------------


def run_compileiq(kernel: Kernel, noisy: bool, seed: int, budget: int, *, engine: str = "genetic",
                  pool: int | None = None, constraints: bool = True, options: dict | None = None) -> Run:
    """Our engine driven as `Search` drives it (a generation is refilled while failures left
    it short), with the kernel's restrictions declared as constraints or not."""
    import compileiq.search_spaces.base as ss
    from compileiq.engines.base import Evaluation
    from compileiq.errors import SearchSpaceExhaustedError
    from compileiq.registry import resolve_engine
    from compileiq.search_spaces.space import SearchSpace
    from compileiq.types import default_pool_size

    objective = Replay(kernel, noisy, seed)
    engine_class = resolve_engine(engine)
    pool = pool or default_pool_size(1)
    start = time.process_time()
    space = SearchSpace.from_input({k: ss.choice(v) for k, v in kernel.tune_params.items()})
    if constraints:
        space = space.with_constraints(kernel.conditions)
    eng = engine_class(space, num_objectives=1, pool_size=pool, seed=seed, **(options or {}))
    cpu = time.process_time() - start
    run = Run(objective.trace)
    generation = 0
    checkpoints = [c for c in CHECKPOINTS if c <= budget]
    while len(objective.trace) < budget:
        needed, batches = pool, 0
        while needed > 0 and len(objective.trace) < budget and batches <= 50:
            # never cross a checkpoint inside one ask: the incumbent is read exactly there
            upto = min(c for c in [*checkpoints, budget] if c > len(objective.trace))
            start = time.process_time()
            try:
                genomes = eng.ask(min(needed, upto - len(objective.trace)), generation)
            except SearchSpaceExhaustedError:
                return _finish(run, eng, space, checkpoints, cpu)
            cpu += time.process_time() - start
            told = []
            for genome in genomes:
                value = objective(tuple(space.decode(genome)[k] for k in kernel.keys))
                told.append(Evaluation(genome, None if value is None else (value,)))
                needed -= value is not None
            start = time.process_time()
            eng.tell(told)
            if len(objective.trace) in checkpoints:
                run.incumbents[len(objective.trace)] = _recommended(eng, space, kernel, objective.trace)
            cpu += time.process_time() - start
            batches += 1
        generation += 1
    return _finish(run, eng, space, checkpoints, cpu)


def run_compileiq_asynchronous(kernel: Kernel, noisy: bool, seed: int, budget: int, *, window: int = 8,
                               pool: int | None = None, constraints: bool = True,
                               options: dict | None = None) -> Run:
    """Our engine driven as `Search(scheduling="asynchronous")` drives it (`_scheduler.py`):
    `window` candidates in flight, one ask (with `engine.pending` the others) after each
    completion; a group of `pool` successes is a generation. Durations are lognormal (sigma 1)
    on a virtual clock seeded by `seed`, so candidates finish in the order real workers would
    return them; the trace is in completion order."""
    import compileiq.search_spaces.base as ss
    from compileiq.engines.base import Evaluation
    from compileiq.errors import SearchSpaceExhaustedError
    from compileiq.registry import resolve_engine
    from compileiq.search_spaces.space import SearchSpace
    from compileiq.types import default_pool_size

    objective = Replay(kernel, noisy, seed)
    clock = random.Random(40_000 + seed)
    pool = pool or default_pool_size(1)
    start = time.process_time()
    space = SearchSpace.from_input({k: ss.choice(v) for k, v in kernel.tune_params.items()})
    if constraints:
        space = space.with_constraints(kernel.conditions)
    eng = resolve_engine("genetic")(space, num_objectives=1, pool_size=pool, seed=seed, **(options or {}))
    cpu = time.process_time() - start
    run = Run(objective.trace)
    checkpoints = [c for c in CHECKPOINTS if c <= budget]
    now, heap, counter = 0.0, [], 0  # (finish time, submission number, genome)
    group = group_successes = group_failures = 0
    exhausted = False
    while True:
        while not exhausted and len(heap) < window and len(objective.trace) + len(heap) < budget:
            eng.pending = tuple(g for _, _, g in heap)
            start = time.process_time()
            try:
                [genome] = eng.ask(1, group)
            except SearchSpaceExhaustedError:
                exhausted = True
                break
            finally:
                cpu += time.process_time() - start
            heapq.heappush(heap, (now + math.exp(clock.gauss(0.0, 1.0)), counter, genome))
            counter += 1
        if not heap:
            break
        now, _, genome = heapq.heappop(heap)
        value = objective(tuple(space.decode(genome)[k] for k in kernel.keys))
        start = time.process_time()
        eng.tell([Evaluation(genome, None if value is None else (value,))])
        if len(objective.trace) in checkpoints:
            run.incumbents[len(objective.trace)] = _recommended(eng, space, kernel, objective.trace)
        cpu += time.process_time() - start
        group_successes += value is not None
        group_failures += value is None
        if group_successes >= pool or group_failures > 50 * pool:
            group, group_successes, group_failures = group + 1, 0, 0
    return _finish(run, eng, space, checkpoints, cpu)


def _recommended(eng: Any, space: Any, kernel: Kernel, trace: list) -> tuple | None:
    recommend = getattr(eng, "recommend", None)
    genome = recommend() if recommend is not None else None
    if genome is None:
        return best_measured(trace, len(trace))
    config = space.decode(genome)
    return tuple(config[k] for k in kernel.keys)


def _finish(run: Run, eng: Any, space: Any, checkpoints: list[int], cpu: float) -> Run:
    run.cpu = cpu
    for c in checkpoints:
        run.incumbents.setdefault(c, best_measured(run.trace, c))
    return run


# -- Optuna TPE --------------------------------------------------------------------------------


def run_optuna(kernel: Kernel, noisy: bool, seed: int, budget: int, *, batch: int = 1) -> Run:
    """Multivariate, grouped TPE over categorical parameters; a failure scores 10x the worst
    success so far. `batch` > 1: trials asked `batch` at a time with the constant liar."""
    import optuna

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    objective = Replay(kernel, noisy, seed)
    start = time.process_time()
    sampler = optuna.samplers.TPESampler(multivariate=True, group=True, constant_liar=batch > 1, seed=seed)
    study = optuna.create_study(sampler=sampler, direction="minimize")
    worst = 0.0
    while len(objective.trace) < budget:
        trials = [study.ask() for _ in range(min(batch, budget - len(objective.trace)))]
        configs = [tuple(t.suggest_categorical(k, v) for k, v in kernel.tune_params.items()) for t in trials]
        for trial, config in zip(trials, configs):
            start_eval = time.process_time()
            value = objective(config)
            eval_cpu = time.process_time() - start_eval
            start -= eval_cpu  # the look-up is not the optimizer's time
            if value is not None:
                worst = max(worst, value)
            study.tell(trial, value if value is not None else 10.0 * (worst or 1.0))
    run = Run(objective.trace, cpu=time.process_time() - start)
    for c in CHECKPOINTS:
        if c <= budget:
            run.incumbents[c] = best_measured(run.trace, c)
    return run


# -- Kernel Tuner (simulation mode) ------------------------------------------------------------


def _kt_cache(kernel: Kernel, noisy: bool, seed: int, folder: Path) -> Path:
    """A Kernel Tuner cache to simulate from: means, or one of the 32 draws per configuration."""
    rng = random.Random(20_000 + seed)
    cache = {}
    for key, record in kernel.cache.items():
        if noisy and not isinstance(record["time"], str):
            record = {**record, "time": record["times"][rng.randrange(len(record["times"]))]}
        cache[key] = record
    path = folder / f"{kernel.name}_{'noisy' if noisy else 'mean'}_{seed}.json"
    path.write_text(json.dumps({**kernel.header, "cache": cache}))
    return path


@contextlib.contextmanager
def _seeded_latin_hypercube(seed: int) -> Iterator[None]:
    """Seed the Latin hypercube of Kernel Tuner's bayes_opt initial sample.

    bayes_opt builds `scipy.stats.qmc.LatinHypercube(d=...)` without a seed, which draws from
    fresh OS entropy: neither `random.seed` nor `np.random.seed` reaches it, so its runs were
    not reproducible and not tied to the seed. This hands it a generator made from `seed`.
    """
    import inspect

    import numpy as np
    from kernel_tuner.strategies import bayes_opt
    from scipy.stats.qmc import LatinHypercube

    keyword = "rng" if "rng" in inspect.signature(LatinHypercube).parameters else "seed"
    original = bayes_opt.LatinHypercube
    bayes_opt.LatinHypercube = functools.partial(LatinHypercube, **{keyword: np.random.default_rng(30_000 + seed)})
    try:
        yield
    finally:
        bayes_opt.LatinHypercube = original


def run_kernel_tuner(kernel: Kernel, noisy: bool, seed: int, budget: int, *, strategy: str) -> Run:
    """Kernel Tuner 1.5 in simulation mode, with the kernel's restrictions (it never proposes an
    infeasible configuration). Its CPU time includes its simulation bookkeeping.

    Charged as ours: Kernel Tuner stops at `max_fevals` *unique* configurations (a repeat is
    served from its cache for free), but its results list every evaluation in order, repeats
    included; the trace is that list cut at `budget`, so every repeat and every configuration
    that failed at run time counts. A configuration that breaks the restrictions is rejected
    by Kernel Tuner before it is run, as our engine with constraints never proposes one: neither
    is charged. The seed reaches every strategy: `random`, `numpy.random` and bayes_opt's Latin
    hypercube (`_seeded_latin_hypercube`).
    """
    import numpy as np
    from kernel_tuner import tune_kernel

    with tempfile.TemporaryDirectory() as folder, _seeded_latin_hypercube(seed):
        cache = _kt_cache(kernel, noisy, seed, Path(folder))
        random.seed(seed)
        np.random.seed(seed)
        start = time.process_time()
        with open(os.devnull, "w") as sink:
            with contextlib.redirect_stdout(sink):
                results, _ = tune_kernel(
                    kernel.header["kernel_name"], "", kernel.header["problem_size"], [], kernel.tune_params,
                    restrictions=kernel.conditions, cache=str(cache), simulation_mode=True, strategy=strategy,
                    strategy_options={"max_fevals": budget}, objective="time", verbose=False, quiet=True,
                )
        cpu = time.process_time() - start
    trace: list[tuple[tuple, float | None]] = []
    for record in results[:budget]:
        config = tuple(record[k] for k in kernel.keys)
        value = record.get("time")
        trace.append((config, float(value) if isinstance(value, (int, float)) else None))
    run = Run(trace, cpu=cpu)
    for c in CHECKPOINTS:
        if c <= budget:
            run.incumbents[c] = best_measured(trace, c)
    return run


# -- the line-up --------------------------------------------------------------------------------

OPTIMIZERS: dict[str, Callable[..., Run]] = {
    "compileiq default, constraints": lambda k, n, s, b: run_compileiq(k, n, s, b),
    "compileiq default, constraints, asynchronous": lambda k, n, s, b: run_compileiq_asynchronous(k, n, s, b),
    "compileiq default, constraints, remeasure 0.2": lambda k, n, s, b: run_compileiq(
        k, n, s, b, options={"remeasure": 0.2}),
    "compileiq pool 20, constraints": lambda k, n, s, b: run_compileiq(k, n, s, b, pool=20),
    "compileiq default, no constraints": lambda k, n, s, b: run_compileiq(k, n, s, b, constraints=False),
    "compileiq pool 20, no constraints": lambda k, n, s, b: run_compileiq(k, n, s, b, pool=20, constraints=False),
    "random (constraints)": lambda k, n, s, b: run_compileiq(k, n, s, b, engine="random"),
    "Kernel Tuner genetic_algorithm": lambda k, n, s, b: run_kernel_tuner(k, n, s, b, strategy="genetic_algorithm"),
    "Kernel Tuner bayes_opt": lambda k, n, s, b: run_kernel_tuner(k, n, s, b, strategy="bayes_opt"),
    "Kernel Tuner dual_annealing": lambda k, n, s, b: run_kernel_tuner(k, n, s, b, strategy="dual_annealing"),
    "Optuna TPE": lambda k, n, s, b: run_optuna(k, n, s, b),
    "Optuna TPE batch 20 (constant liar)": lambda k, n, s, b: run_optuna(k, n, s, b, batch=20),
}
OURS = [name for name in OPTIMIZERS if name.startswith("compileiq")]
