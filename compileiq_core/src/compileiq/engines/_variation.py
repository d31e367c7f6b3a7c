"""Offspring of a parent population: tournament selection, uniform crossover, typed mutation.

Everything works on int arrays of genomes (one row per genome) so a few thousand offspring
cost a few milliseconds. Mutation respects what each gene is: a range gene moves to a nearby
grid point (a rounded Gaussian step whose width is drawn per child, from one grid step to a
third of the range), a choice among numbers (ordinal) moves to a neighbouring value half the
time and to any other value otherwise, another choice gene takes another value, a knockable
gene is switched on or off.

`neighbours` lists a genome's whole one- and two-step neighbourhood (every other value of a
choice, nearby grid points of a range, knockout toggled), for a local, exhaustive move.
`reshapes` lists a much smaller one: for choices among numbers, the values nearest half and
twice the current one and the neighbouring ranks, and for each pair of them the coupled
opposite moves (one halved, the other doubled) that keep a product such as a thread block's
size.
"""

from __future__ import annotations

import math

import numpy as np
from numpy.random import Generator

from compileiq.engines._surrogate import ordinal_ranks
from compileiq.search_spaces.models import RangeParamConfig
from compileiq.search_spaces.space import KNOCKED_OUT, SearchSpace

__all__ = ["Variation"]


class Variation:
    """Makes offspring genomes for one search space."""

    def __init__(self, space: SearchSpace, mutation_probability: float | None, crossover_probability: float,
                 tournament_size: int) -> None:
        self.sizes = np.array([p.size for p in space.params], dtype=np.int64)
        self.knockable = np.array([p.knockable for p in space.params], dtype=bool)
        self.is_range = np.array([isinstance(p.config, RangeParamConfig) for p in space.params], dtype=bool)
        # ordinal choices: value index -> rank, and rank -> value index
        self.ranks: dict[int, tuple[np.ndarray, np.ndarray]] = {}
        # ordinal choices: value index -> index of the value nearest half / twice it (-1: none)
        self.scaled: dict[int, tuple[np.ndarray, np.ndarray]] = {}
        for gene, param in enumerate(space.params):
            ranks = ordinal_ranks(param.config)
            if ranks is not None:
                self.ranks[gene] = (ranks, np.argsort(ranks))
                numbers = np.array(param.config.vals, dtype=float)  # type: ignore[union-attr]
                self.scaled[gene] = (_nearest_scaled(numbers, 0.5), _nearest_scaled(numbers, 2.0))
        self.ordinal_genes = np.array(sorted(self.ranks), dtype=np.int64)
        self.mutable = (self.sizes > 1) | self.knockable
        self.mutable_genes = np.flatnonzero(self.mutable)
        count = max(len(self.mutable_genes), 1)
        self.mutation_probability = mutation_probability
        self.base_rate = 1.0 / count if mutation_probability is None else mutation_probability
        self.crossover_probability = crossover_probability
        self.tournament_size = tournament_size

    def alternatives(self, gene: int, value: int) -> np.ndarray:
        """The values one step from `value` of `gene`: every other value of a choice, the grid
        points 1, 2, 4, ... steps away for a range, and the knockout toggle."""
        size = int(self.sizes[gene])
        out: list[int] = []
        if value == KNOCKED_OUT:
            return np.arange(size, dtype=np.int64)
        if self.knockable[gene]:
            out.append(KNOCKED_OUT)
        if self.is_range[gene]:
            step = 1
            while step < size:
                out += [v for v in (value - step, value + step) if 0 <= v < size]
                step *= 2
        else:
            out += [v for v in range(size) if v != value]
        return np.array(out, dtype=np.int64)

    def neighbours(self, genome: np.ndarray, two_step: bool, limit: int) -> np.ndarray | None:
        """Every genome one gene away from `genome`, and with `two_step` two genes away.

        None when there are more than `limit`: the move is meant to be exhaustive, and on wide
        spaces (many genes) it would crowd out the offspring (worse on held-out compiler-flag
        problems).
        """
        alts = {int(g): self.alternatives(int(g), int(genome[g])) for g in self.mutable_genes}
        genes = [g for g in alts if len(alts[g])]
        pairs = [(a, b) for i, a in enumerate(genes) for b in genes[i + 1:]] if two_step else []
        if sum(len(alts[g]) for g in genes) + sum(len(alts[a]) * len(alts[b]) for a, b in pairs) > limit:
            return None
        blocks: list[np.ndarray] = []
        for g in genes:
            block = np.repeat(genome[None, :], len(alts[g]), axis=0)
            block[:, g] = alts[g]
            blocks.append(block)
        for a, b in pairs:
            va, vb = np.meshgrid(alts[a], alts[b], indexing="ij")
            block = np.repeat(genome[None, :], va.size, axis=0)
            block[:, a] = va.ravel()
            block[:, b] = vb.ravel()
            blocks.append(block)
        if not blocks:
            return np.zeros((0, len(genome)), dtype=np.int64)
        return np.concatenate(blocks)

    def reshapes(self, genome: np.ndarray) -> np.ndarray:
        """A multiplicative neighbourhood over the choices among numbers: each moved to its
        neighbouring ranks and to the values nearest half and twice its own, and each pair moved
        in opposite directions (one halved, the other doubled: the same product, another shape).
        Tens of genomes on kernel spaces, where the whole two-step neighbourhood is hundreds."""
        genes = [int(g) for g in self.ordinal_genes if genome[g] != KNOCKED_OUT]
        rows: list[np.ndarray] = []
        halves: dict[int, int] = {}
        doubles: dict[int, int] = {}
        for g in genes:
            value = int(genome[g])
            to_rank, to_index = self.ranks[g]
            halves[g], doubles[g] = int(self.scaled[g][0][value]), int(self.scaled[g][1][value])
            rank = int(to_rank[value])
            moves = {int(to_index[r]) for r in (rank - 1, rank + 1) if 0 <= r < len(to_index)}
            moves |= {v for v in (halves[g], doubles[g]) if v >= 0}
            for v in sorted(moves):
                row = genome.copy()
                row[g] = v
                rows.append(row)
        for i, a in enumerate(genes):
            for b in genes[i + 1:]:
                for va, vb in ((halves[a], doubles[b]), (doubles[a], halves[b])):
                    if va >= 0 and vb >= 0:
                        row = genome.copy()
                        row[a], row[b] = va, vb
                        rows.append(row)
        if not rows:
            return np.zeros((0, len(genome)), dtype=np.int64)
        return np.array(rows, dtype=np.int64)

    def offspring(self, parents: np.ndarray, count: int, rng: Generator) -> np.ndarray:
        """`count` children of `parents`, whose rows are ordered best first."""
        n_parents, genes = parents.shape
        picks = rng.integers(0, n_parents, size=(count, 2, self.tournament_size))
        chosen = picks.min(axis=2)  # rows are ordered best first: the lowest index wins
        first, second = parents[chosen[:, 0]], parents[chosen[:, 1]]
        crossing = rng.random(count) < self.crossover_probability
        mask = (rng.random((count, genes)) < 0.5) & crossing[:, None]
        children = np.where(mask, second, first)
        if len(self.mutable_genes) == 0:
            return children
        self._mutate(children, second, rng)
        return children

    def _mutate(self, children: np.ndarray, donors: np.ndarray, rng: Generator) -> None:
        count, genes = children.shape
        if self.mutation_probability is None:
            # adaptive: each child draws its rate among 0.5, 1, 2 and 4 genes per child on average
            rates = self.base_rate * np.array([0.5, 1.0, 2.0, 4.0])[rng.integers(0, 4, size=count)]
        else:
            rates = np.full(count, self.base_rate)
        hits = (rng.random((count, genes)) < np.minimum(rates, 1.0)[:, None]) & self.mutable[None, :]
        # every child changes at least one gene
        idle = np.flatnonzero(~hits.any(axis=1))
        if len(idle):
            hits[idle, self.mutable_genes[rng.integers(0, len(self.mutable_genes), size=len(idle))]] = True
        # per-child step width for range genes: log-uniform between one grid step and a third of the range
        widths = np.exp(rng.uniform(np.log(0.01), np.log(0.33), size=count))
        for gene in self.mutable_genes:
            rows = np.flatnonzero(hits[:, gene])
            if len(rows) == 0:
                continue
            size = int(self.sizes[gene])
            values = children[rows, gene]
            new = values.copy()
            if self.knockable[gene]:
                off = values == KNOCKED_OUT
                toggle = off | (rng.random(len(rows)) < (1.0 if size == 1 else 0.5))
                # switching on: the donor's value when it has one, else a uniform draw
                donor = donors[rows, gene]
                on_value = np.where(donor != KNOCKED_OUT, donor, rng.integers(0, size, size=len(rows)))
                new = np.where(toggle & off, on_value, new)
                new = np.where(toggle & ~off, KNOCKED_OUT, new)
                moving = ~toggle
            else:
                moving = np.ones(len(rows), dtype=bool)
            if size > 1 and moving.any():
                idx = np.flatnonzero(moving)
                current = new[idx]
                if self.is_range[gene]:
                    step = np.rint(rng.normal(size=len(idx)) * widths[rows[idx]] * size).astype(np.int64)
                    zero = step == 0
                    step[zero] = rng.choice(np.array([-1, 1]), size=int(zero.sum()))
                    moved = current + step
                    # reflect at the ends of the grid
                    moved = np.where(moved < 0, -moved, moved)
                    moved = np.where(moved > size - 1, 2 * (size - 1) - moved, moved)
                    new[idx] = np.clip(moved, 0, size - 1)
                elif gene in self.ranks:
                    to_rank, to_index = self.ranks[int(gene)]
                    jump = (current + rng.integers(1, size, size=len(idx))) % size
                    step = rng.choice(np.array([-1, 1]), size=len(idx))
                    rank = to_rank[current] + step
                    rank = np.where((rank < 0) | (rank > size - 1), to_rank[current] - step, rank)
                    near = to_index[rank]
                    new[idx] = np.where(rng.random(len(idx)) < 0.5, near, jump)
                else:
                    new[idx] = (current + rng.integers(1, size, size=len(idx))) % size
            children[rows, gene] = new


def _nearest_scaled(numbers: np.ndarray, factor: float) -> np.ndarray:
    """For each value, the index of the value nearest `factor` times it (by ratio) among those of
    the same sign beyond it in that direction (larger in magnitude for a factor above 1); -1 at
    the end of the scale and for 0. A tie goes to the value nearer the current one. Run once per
    gene at set-up, over a choice's few values: a plain double loop."""
    values = [float(v) for v in numbers]
    out = np.full(len(values), -1, dtype=np.int64)
    for i, current in enumerate(values):
        if current == 0:
            continue
        beyond = [j for j, v in enumerate(values)
                  if v * current > 0 and v != current and (abs(v) > abs(current)) == (factor > 1)]
        if beyond:
            out[i] = min(beyond, key=lambda j: (round(abs(math.log(values[j] / (factor * current))), 9),
                                                abs(math.log(values[j] / current))))
    return out
