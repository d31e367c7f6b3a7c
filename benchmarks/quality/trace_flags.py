"""Where the flags problem's deceptive pairs are lost and found again, per scheduling mode.

    python benchmarks/quality/trace_flags.py [--first-seed 100] [--seeds 100] [--window 8] [--modes ...]
        [--engine-options JSON]

Runs `scheduling.py`'s Searches (virtual-clock worker, real driver and genetic engine) on the
flags problem with a few engine methods wrapped to record, for every candidate screened, its
origin (which parents, crossover or not, the child before mutation), its rank by expected
improvement and its place in the spread order, and for every breeding its parents. Nothing a
run proposes changes (checked: the first seed's regret must equal an untraced run's). Then,
per run and deceptive pair (each flag alone slows the program, both together speed it up),
prints: whether the final best carries the pair, when the parents lose it, every
"re-discovery" (a child with both flags asked while no parent has both: its origin, its
expected-improvement rank, its position in the spread order, the parents carrying one flag),
the share of evaluations with one flag, and the parents' mean pairwise Hamming distance.
The figures are in docs/benchmarks-scheduling.md ("third round").
"""

from __future__ import annotations

import argparse
import collections
import statistics
import warnings
from pathlib import Path
from typing import Any

import numpy as np
import scheduling
from problems import make_problem

from compileiq.engines import _variation, genetic
from compileiq.registry import register_worker

LOG: dict[str, Any] = {}
_ORIGINAL = {
    "offspring": _variation.Variation.offspring,
    "spread": genetic.GeneticEngine._spread,
    "candidates": genetic.GeneticEngine._candidates,
    "ask": genetic.GeneticEngine.ask,
    "tell": genetic.GeneticEngine.tell,
}


def _offspring(self: Any, parents: np.ndarray, count: int, rng: Any) -> np.ndarray:
    """`Variation.offspring`, step for step (the same random draws), keeping each child's origin."""
    n_parents, genes = parents.shape
    chosen = rng.integers(0, n_parents, size=(count, 2, self.tournament_size)).min(axis=2)
    first, second = parents[chosen[:, 0]], parents[chosen[:, 1]]
    crossing = rng.random(count) < self.crossover_probability
    mask = (rng.random((count, genes)) < 0.5) & crossing[:, None]
    children = np.where(mask, second, first)
    before = children.copy()
    if len(self.mutable_genes):
        self._mutate(children, second, rng)
    LOG["bred"].append((chosen, before, children.copy()))
    return children


def _spread(self: Any, x: np.ndarray, score: np.ndarray, n: int) -> np.ndarray:
    order = _ORIGINAL["spread"](self, x, score, n)
    LOG["spread"] = (np.array(score), np.array(order))
    return order


def _candidates(self: Any, n: int) -> list:
    LOG["bred"], LOG["spread"] = [], None
    parents = np.array(self._parents_array)
    out = _ORIGINAL["candidates"](self, n)
    origin: dict[tuple, dict[str, Any]] = {}
    for chosen, before, children in LOG["bred"]:
        for row, child in enumerate(children.tolist()):
            origin.setdefault(tuple(child), {"p1": int(chosen[row, 0]), "before": tuple(before[row].tolist())})
    if LOG["spread"] is not None:
        score, order = LOG["spread"]
        rank = np.empty(len(score), dtype=int)
        rank[np.argsort(-score, kind="stable")] = np.arange(len(score))
    for position, genome in enumerate(out):
        info = dict(origin.get(genome, {"p1": None}))
        info["position"] = position
        info["rank"] = int(rank[order[position]]) if LOG["spread"] is not None else None
        LOG["latest"][genome] = info
    LOG["breeds"].append({"at": len(self._costs), "parents": parents})
    return out


def _ask(self: Any, n: int, generation: int) -> list:
    out = _ORIGINAL["ask"](self, n, generation)
    for genome in out:
        LOG["asked"].append((genome, len(LOG["breeds"]) - 1, LOG["latest"].get(genome)))
    return out


def _tell(self: Any, evaluations: Any) -> None:
    LOG["told"] += [(tuple(e.genome), None if e.costs is None else float(e.costs[0])) for e in evaluations]
    _ORIGINAL["tell"](self, evaluations)


def _traced(on: bool) -> None:
    _variation.Variation.offspring = _offspring if on else _ORIGINAL["offspring"]  # type: ignore[method-assign]
    for name, wrapper in (("spread", _spread), ("candidates", _candidates), ("ask", _ask), ("tell", _tell)):
        setattr(genetic.GeneticEngine, f"_{name}" if name in ("spread", "candidates") else name,
                wrapper if on else _ORIGINAL[name])


def run(seed: int, mode: str, args: argparse.Namespace) -> dict[str, Any]:
    problem = make_problem("flags", seed)
    LOG.clear()
    LOG.update(bred=[], spread=None, latest={}, breeds=[], asked=[], told=[],
               pairs=[(a, b) for a, b, _ in problem.pairs[:2]])
    regret = scheduling.regret("flags", seed, mode, args, Path(args.cache))
    return {"regret": regret, "pairs": LOG["pairs"], "breeds": LOG["breeds"], "asked": LOG["asked"],
            "told": LOG["told"]}


def carries(genome: tuple, pair: tuple[int, int]) -> int:
    """0: neither flag on, 1: the first only, 2: the second only, 3: both."""
    return int(genome[pair[0]] >= 0) + 2 * int(genome[pair[1]] >= 0)


def summarize(runs: list[dict[str, Any]]) -> None:
    final = lost_count = never = 0
    lost_at: list[int] = []
    events: list[dict[str, Any]] = []
    one_parents: dict[str, list[float]] = collections.defaultdict(list)
    one_evals: dict[str, list[float]] = collections.defaultdict(list)
    hamming: dict[int, list[float]] = collections.defaultdict(list)
    for r in runs:
        told = r["told"]
        best = min((c, g) for g, c in told if c is not None)[1]
        for at in (16, 32, 48, 64, 96):
            later = [b for b in r["breeds"] if b["at"] >= at]
            if later:
                p = later[0]["parents"]
                hamming[at].append(float((p[:, None, :] != p[None, :, :]).sum(-1)[np.triu_indices(len(p), 1)].mean()))
        for pair in r["pairs"]:
            final += carries(best, pair) == 3
            state = [collections.Counter(carries(tuple(p), pair) for p in b["parents"]) for b in r["breeds"]]
            had = [i for i, c in enumerate(state) if c[3]]
            gone = [i for i, c in enumerate(state) if not c[3] and had and i > had[0]]
            never += not had
            if gone:
                lost_count += 1
                lost_at.append(r["breeds"][gone[0]]["at"])
            for lo, hi in ((16, 48), (48, 96)):
                rows = [c[1] + c[2] for b, c in zip(r["breeds"], state) if lo <= b["at"] < hi and not c[3]]
                if rows:
                    one_parents[f"{lo}-{hi}"].append(float(np.mean(rows)))
                window = [carries(g, pair) for g, _ in told[lo:hi]]
                one_evals[f"{lo}-{hi}"].append(sum(s in (1, 2) for s in window) / max(len(window), 1))
            for genome, breed, info in r["asked"]:
                if breed < 0 or carries(genome, pair) != 3 or state[breed][3]:
                    continue
                before = carries(info["before"], pair) if info and info.get("before") else None
                # a parent at the first breeding after its score was told?
                told_at = next(i for i, (g, _) in enumerate(told) if g == genome)
                after = [b for b in r["breeds"] if b["at"] > told_at]
                kept = bool(after) and any(tuple(p) == genome for p in after[0]["parents"].tolist())
                events.append({"kind": "fresh draw" if before is None else f"bred, {before} before mutation",
                               "rank": info and info["rank"], "position": info and info["position"],
                               "one": state[breed][1] + state[breed][2], "at": r["breeds"][breed]["at"], "kept": kept})
    pairs = 2 * len(runs)
    print(f"  final best carries the pair: {final} of {pairs}; never among the parents {never}, lost from them "
          f"{lost_count} (median at evaluation {statistics.median(lost_at) if lost_at else '-'})")
    print(f"  re-discoveries: {len(events)}, then a parent at the first breeding after their score: "
          f"{sum(e['kept'] for e in events)}; origins "
          f"{dict(collections.Counter(e['kind'] for e in events))} (before mutation: 1 / 2 = one flag, 0 = neither)")
    kept = [e for e in events if e["kept"] and e["rank"] is not None]
    for key in ("rank", "position", "one", "at"):
        values = [e[key] for e in kept]
        if values:
            print(f"    kept ones, {key}: median {np.median(values)}, quartiles {np.percentile(values, [25, 75])}")
    print("  parents with one flag while none has both, mean:",
          {k: round(float(np.mean(v)), 2) for k, v in one_parents.items()})
    print("  evaluations with exactly one flag:", {k: round(float(np.mean(v)), 3) for k, v in one_evals.items()})
    print("  parents' mean pairwise Hamming distance:", {k: round(float(np.mean(v)), 2) for k, v in hamming.items()})


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--first-seed", type=int, default=100)
    parser.add_argument("--seeds", type=int, default=100)
    parser.add_argument("--window", type=int, default=8)
    parser.add_argument("--cache", default="/tmp/compileiq-bench-quality-trace")
    parser.add_argument("--engine-options", default="{}", help="genetic engine options, JSON")
    parser.add_argument("--modes", default="generational,asynchronous")
    args = parser.parse_args()
    args.generations, args.pool = 12, 16
    warnings.simplefilter("ignore")
    register_worker("virtual-clock", scheduling.VirtualClockWorker)
    for mode in args.modes.split(","):
        plain = scheduling.regret("flags", args.first_seed, mode, args, Path(args.cache))
        _traced(True)
        try:
            runs = [run(seed, mode, args) for seed in range(args.first_seed, args.first_seed + args.seeds)]
        finally:
            _traced(False)
        if runs[0]["regret"] != plain:
            raise SystemExit(f"tracing changed the {mode} run of seed {args.first_seed}: the wrapped "
                             "Variation.offspring no longer matches the engine's; update it.")
        print(f"{mode}, seeds {args.first_seed}-{args.first_seed + args.seeds - 1}, window {args.window}:")
        summarize(runs)


if __name__ == "__main__":
    main()
