"""The benchmark problems, in plain Python so that every optimizer's environment can import them.

Each problem instance is built from a seed and offers:
- `params`: the search space as neutral tuples: ("range", name, low, high, step),
  ("choice", name, values) or ("flag", name) (an on/off compiler flag: present or absent);
- `evaluate(config)`: the cost to minimize (a float, or a tuple for two objectives), or None
  when the configuration fails (the objective returns INVALID_SCORE);
- `optimum` (single objective): the best cost, or `reference`/`best_hypervolume` (two
  objectives).
Regret of a single-objective run is `best / optimum - 1` (every problem reads like a runtime
whose optimum is known); of a two-objective run `1 - hypervolume / best_hypervolume`.
"""

from __future__ import annotations

import itertools
import math
import random
from typing import Any

__all__ = ["PROBLEMS", "hypervolume_2d", "make_problem"]

Config = dict[str, Any]


class Sphere:
    """Shifted sphere over 10 integer ranges 0..100: `C + sum((x_i - s_i)^2)`; optimum C at x = s."""

    name = "sphere"
    objectives = 1
    offset = 10000.0  # the runtime at the optimum; it scales regret percentages, not ratios

    def __init__(self, seed: int) -> None:
        rng = random.Random(1000 + seed)
        self.shift = [rng.randint(0, 100) for _ in range(10)]
        self.params = [("range", f"x{i}", 0, 100, 1) for i in range(10)]
        self.optimum = self.offset

    def evaluate(self, config: Config) -> float:
        return self.offset + sum((config[f"x{i}"] - s) ** 2 for i, s in enumerate(self.shift))


class Rosenbrock:
    """Shifted, scaled Rosenbrock over 8 integer ranges 0..100; optimum C at x = s (z = 1)."""

    name = "rosenbrock"
    objectives = 1
    offset = 100.0
    scale = 25.0

    def __init__(self, seed: int) -> None:
        rng = random.Random(2000 + seed)
        self.shift = [rng.randint(20, 80) for _ in range(8)]
        self.params = [("range", f"x{i}", 0, 100, 1) for i in range(8)]
        self.optimum = self.offset

    def evaluate(self, config: Config) -> float:
        z = [(config[f"x{i}"] - s) / self.scale + 1.0 for i, s in enumerate(self.shift)]
        total = sum(100.0 * (z[i + 1] - z[i] ** 2) ** 2 + (1.0 - z[i]) ** 2 for i in range(len(z) - 1))
        return self.offset + total


class CompilerFlags:
    """A synthetic compiler: 30 on/off flags, -O level, scheduler, unroll and block size.

    log(runtime) adds: a base per level, small effects for most flags, a few strongly good and
    strongly harmful flags, sparse pair interactions (two of them deceptive: each flag alone
    hurts, both together help), a scheduler effect, an unroll effect that depends on one flag
    and the level, and a block-size bowl whose centre depends on the scheduler. Two flags
    together, or O0 with unroll 16, fail to compile (about a quarter of random configurations).
    The optimum is found by enumerating the coupled part of this structure (see `_optimum`).
    """

    name = "flags"
    objectives = 1
    levels = ("O0", "O1", "O2", "O3", "Os")
    schedulers = ("list", "greedy", "balanced", "aggressive")
    flags = 30

    def __init__(self, seed: int) -> None:
        rng = random.Random(3000 + seed)
        self.params: list[tuple] = [("flag", f"f{i}") for i in range(self.flags)]
        self.params += [
            ("choice", "level", list(self.levels)),
            ("choice", "sched", list(self.schedulers)),
            ("range", "unroll", 0, 16, 1),
            ("range", "block", 16, 256, 16),
        ]
        order = list(range(self.flags))
        rng.shuffle(order)
        self.unroll_flag = order[0]
        self.forbidden = (order[1], order[2])
        deceptive = [(order[3], order[4]), (order[5], order[6])]
        plain_pairs = [(order[7], order[8]), (order[9], order[10])]
        strong_good, strong_bad = order[11:14], order[14:17]
        self.effect = [rng.gauss(0.0, 0.015) for _ in range(self.flags)]
        for f in strong_good:
            self.effect[f] = -rng.uniform(0.06, 0.12)
        for f in strong_bad:
            self.effect[f] = rng.uniform(0.08, 0.2)
        self.pairs: list[tuple[int, int, float]] = []
        for a, b in deceptive:
            self.effect[a] = rng.uniform(0.03, 0.05)
            self.effect[b] = rng.uniform(0.03, 0.05)
            self.pairs.append((a, b, -(self.effect[a] + self.effect[b]) - rng.uniform(0.06, 0.1)))
        for a, b in plain_pairs:
            self.pairs.append((a, b, rng.choice([-1, 1]) * rng.uniform(0.02, 0.05)))
        self.effect[self.unroll_flag] = rng.uniform(-0.01, 0.02)
        self.level_base = [0.9, 0.35, 0.08 + rng.uniform(0, 0.04), 0.06 + rng.uniform(0, 0.06), 0.2]
        self.sched_effect = [rng.gauss(0.0, 0.04) for _ in self.schedulers]
        self.best_unroll = rng.randint(4, 12)
        self.block_centre = [rng.randint(3, 12) for _ in self.schedulers]  # grid index per scheduler
        self.log_base = math.log(2.0)  # 2 ms at the origin of the log-additive model
        self.optimum = self._optimum()

    def _unroll_term(self, level: int, flag_on: bool, unroll: int) -> float:
        if level == 0:
            return 0.0
        if flag_on:
            return -0.012 * min(unroll, self.best_unroll) + 0.01 * max(0, unroll - self.best_unroll)
        return 0.003 * unroll

    def _block_term(self, sched: int, block_index: int) -> float:
        return 0.0015 * (block_index - self.block_centre[sched]) ** 2

    def _log_runtime(self, on: list[bool], level: int, sched: int, unroll: int, block_index: int) -> float | None:
        a, b = self.forbidden
        if (on[a] and on[b]) or (level == 0 and unroll == 16):
            return None
        total = self.log_base + self.level_base[level] + self.sched_effect[sched]
        total += sum(e for e, o in zip(self.effect, on) if o)
        total += sum(w for x, y, w in self.pairs if on[x] and on[y])
        total += self._unroll_term(level, on[self.unroll_flag], unroll)
        total += self._block_term(sched, block_index)
        return total

    def evaluate(self, config: Config) -> float | None:
        on = [f"f{i}" in config for i in range(self.flags)]
        level = self.levels.index(config["level"])
        sched = self.schedulers.index(config["sched"])
        block_index = (config["block"] - 16) // 16
        value = self._log_runtime(on, level, sched, config["unroll"], block_index)
        return None if value is None else math.exp(value)

    def _optimum(self) -> float:
        coupled = sorted({self.forbidden[0], self.forbidden[1], *(x for p in self.pairs for x in p[:2])})
        free = [f for f in range(self.flags) if f not in coupled and f != self.unroll_flag]
        free_part = sum(min(self.effect[f], 0.0) for f in free)
        best_coupled = math.inf
        for bits in itertools.product((False, True), repeat=len(coupled)):
            on = dict(zip(coupled, bits))
            if on[self.forbidden[0]] and on[self.forbidden[1]]:
                continue
            value = sum(self.effect[f] for f in coupled if on[f])
            value += sum(w for x, y, w in self.pairs if on[x] and on[y])
            best_coupled = min(best_coupled, value)
        best_rest = math.inf
        for level, sched, flag_on in itertools.product(range(5), range(4), (False, True)):
            unrolls = [u for u in range(17) if not (level == 0 and u == 16)]
            value = self.level_base[level] + self.sched_effect[sched]
            value += self.effect[self.unroll_flag] if flag_on else 0.0
            value += min(self._unroll_term(level, flag_on, u) for u in unrolls)
            value += min(self._block_term(sched, i) for i in range(16))
            best_rest = min(best_rest, value)
        return math.exp(self.log_base + free_part + best_coupled + best_rest)


class TwoObjective:
    """ZDT1 on integers: 8 ranges 0..100; f1 = x0/100, f2 = g * (1 - sqrt(f1)), g = 1 on the front.

    g = 1 + 9/7 * sum(((x_i - s_i)/100)^2) for i = 1..7, so the Pareto set is x_i = s_i with any
    x0: 101 front points whose hypervolume (reference point (1.1, 1.1)) is computed exactly.
    """

    name = "zdt1"
    objectives = 2
    reference = (1.1, 1.1)

    def __init__(self, seed: int) -> None:
        rng = random.Random(4000 + seed)
        self.shift = [rng.randint(0, 100) for _ in range(7)]
        self.params = [("range", f"x{i}", 0, 100, 1) for i in range(8)]
        front = [(t / 100.0, 1.0 - math.sqrt(t / 100.0)) for t in range(101)]
        self.best_hypervolume = hypervolume_2d(front, self.reference)

    def evaluate(self, config: Config) -> tuple[float, float]:
        f1 = config["x0"] / 100.0
        g = 1.0 + 9.0 / 7.0 * sum(((config[f"x{i + 1}"] - s) / 100.0) ** 2 for i, s in enumerate(self.shift))
        return f1, g * (1.0 - math.sqrt(f1))


def hypervolume_2d(points: list[tuple[float, float]], reference: tuple[float, float]) -> float:
    """Area dominated by `points` (minimized) inside the box bounded by `reference`."""
    inside = sorted(p for p in points if p[0] < reference[0] and p[1] < reference[1])
    # sweep by f1: each front point adds the strip up to the next front point's f1
    area = 0.0
    front: list[tuple[float, float]] = []
    for f1, f2 in inside:
        if not front or f2 < front[-1][1]:
            front.append((f1, f2))
    for i, (f1, f2) in enumerate(front):
        right = front[i + 1][0] if i + 1 < len(front) else reference[0]
        area += (right - f1) * (reference[1] - f2)
    return area


PROBLEMS = {cls.name: cls for cls in (Sphere, Rosenbrock, CompilerFlags, TwoObjective)}


def make_problem(name: str, seed: int) -> Any:
    """Instance `seed` of problem `name` (one of PROBLEMS)."""
    try:
        return PROBLEMS[name](seed)
    except KeyError:
        raise ValueError(f"unknown problem {name!r}; expected one of {sorted(PROBLEMS)}.") from None
