"""Measurement noise, measured: re-measurements of the incumbent and of its contenders.

With one objective, single measurements cannot tell a lucky draw from a truly better
configuration (the winner's curse). `Remeasurement` keeps every measurement per genome, on a
relative scale (log of the costs' magnitude, so a 1 % deviation is 0.01 whatever the unit),
and decides which already evaluated genomes to measure again:

- probing (noise unknown): the best measured genome is measured again, once per ask, until
  `probes` repeats agree within `agreement` (a noise-free objective: no more repeats) or one
  disagrees (a noisy objective), and then until three repeats estimate the noise (a single
  pair that happened to differ little would make every rival look settled);
- racing (noisy): a share of the evaluations re-measures the genomes whose lower confidence
  bound (median minus two standard errors) is lowest, the contenders for the incumbent, so
  that the one recommended is truly the best, not the luckiest; only while at least two
  genomes' intervals overlap the best one's (an isolated best needs no race).

The relative noise is the pooled standard deviation of the repeats. Everything derives from
the measurements told, in order, so the same history gives the same decisions (resume).
"""

from __future__ import annotations

import math

import numpy as np

from compileiq.search_spaces.space import Genome

__all__ = ["Remeasurement"]

_RIVALS = 2  # race only when at least this many genomes may still be better than the best
_ESTIMATE_REPEATS = 3  # repeats before a measured noise level is trusted to decide a race


class Remeasurement:
    """Per-genome measurements, the measured relative noise, and the re-measurements to ask.

    Args:
        share: most share of all evaluations spent on re-measurements once noise is found
            (0 turns re-measurement and probing off).
        declared: the user's `measurement_noise` (relative standard deviation), or 0: unknown.
        probes: agreeing repeats after which the objective is taken as noise-free.
        agreement: relative difference under which two measurements agree.
    """

    def __init__(self, share: float, declared: float = 0.0, probes: int = 1, agreement: float = 1e-3) -> None:
        self.share = share
        self.declared = declared
        self.probes = probes
        self.agreement = agreement
        self.values: dict[Genome, list[float]] = {}  # raw costs per genome, in the order told
        self.evaluations = 0
        self.repeats = 0  # measurements of a genome already measured
        self.in_flight: set[Genome] = set()  # re-measurements asked and not yet told
        self.asked = 0  # re-measurements asked in all
        self._centers: dict[Genome, float] = {}  # `center` of each measured genome, kept up to date
        self._sign = 0.0  # +1: costs positive, -1: negative (maximized), nan: mixed, no relative scale

    # -- what was measured --------------------------------------------------------------------

    @property
    def enabled(self) -> bool:
        """Whether anything here is used: re-measurement on, or a noise level declared."""
        return self.share > 0 or self.declared > 0

    def record(self, genome: Genome, cost: float | None) -> None:
        """One evaluation (first objective's cost, None when it failed)."""
        self.evaluations += 1
        self.in_flight.discard(genome)
        if cost is None:
            return
        measured = self.values.setdefault(genome, [])
        if measured:
            self.repeats += 1
        measured.append(cost)
        sign = 1.0 if cost > 0 else -1.0 if cost < 0 else math.nan
        if self._sign == 0.0:
            self._sign = sign
        elif self._sign != sign:
            self._sign = math.nan
        if self.relative:
            self._centers[genome] = float(np.median(self.log_values(measured)))

    @property
    def relative(self) -> bool:
        """True when all costs share one sign, so that deviations can be relative."""
        return self._sign in (1.0, -1.0)

    def log_values(self, values: list[float]) -> np.ndarray:
        """Costs on the relative scale: `log(cost)`, or `-log(-cost)` for negated (max) costs."""
        return np.asarray(self._sign * np.log(np.abs(np.asarray(values, dtype=float))), dtype=float)

    def measured_noise(self) -> float | None:
        """Pooled relative standard deviation of the repeats; None before any repeat."""
        if not self.repeats or not self.relative:
            return None
        squares, dof = 0.0, 0
        for values in self.values.values():
            if len(values) > 1:
                y = self.log_values(values)
                squares += float(((y - y.mean()) ** 2).sum())
                dof += len(values) - 1
        return math.sqrt(squares / dof) if dof else None

    def noisy(self) -> bool | None:
        """True when repeats disagree, False when `probes` of them agree, None while unknown."""
        if self.declared:
            return True
        noise = self.measured_noise()
        if noise is None:
            return None
        if noise > self.agreement / math.sqrt(2.0):
            return True
        return False if self.repeats >= self.probes else None

    def noise(self) -> float:
        """The relative noise to reckon with: declared, else measured (0 when none is known)."""
        if self.declared:
            return self.declared
        if not self.noisy():
            return 0.0
        return self.measured_noise() or 0.0

    # -- what to measure again ----------------------------------------------------------------

    def wanted(self, n: int, pending: tuple[Genome, ...] = ()) -> list[Genome]:
        """Up to `n` evaluated genomes to measure again in an ask of `n` (distinct, not pending)."""
        if self.share <= 0 or n <= 0 or not self.values or not self.relative:
            return []
        state = self.noisy()
        if state is False:
            return []
        if state and not self.declared and self.repeats < _ESTIMATE_REPEATS:
            state = None  # one pair of measurements barely estimates the noise: probe the best again
        if state is None:  # probing: the best measured one, one probe at a time
            allowed = 0 if self.in_flight else 1
        else:
            allowed = int(self.share * (self.evaluations + len(self.in_flight) + n)) - self.asked
            allowed = min(allowed, n // 2 if n > 1 else n)
        if allowed <= 0:
            return []
        busy = set(pending) | self.in_flight
        genomes = [g for g in self._centers if g not in busy] if busy else list(self._centers)
        if not genomes:
            return []
        means, counts = self.means(genomes)
        if state is None:
            order = np.argsort(means, kind="stable")
        else:
            sigma = self.noise() or self.agreement
            error = sigma / np.sqrt(counts)
            best = int(np.argmin(means))
            rivals = np.count_nonzero(means - 2.0 * error < means[best] + 2.0 * error[best]) - 1
            if rivals < _RIVALS:
                return []
            order = np.argsort(means - 2.0 * error, kind="stable")
        picked = [genomes[int(i)] for i in order[:allowed]]
        self.in_flight.update(picked)
        self.asked += len(picked)
        return picked

    def center(self, genome: Genome) -> float:
        """The typical measurement of `genome` on the relative scale: the median, which an
        outlying draw (a lucky or unlucky run) does not move."""
        return self._centers[genome]

    def means(self, genomes: list[Genome]) -> tuple[np.ndarray, np.ndarray]:
        """Mean (relative scale) and count of the measurements of each genome."""
        centers = self._centers
        means = np.fromiter((centers[g] for g in genomes), dtype=float, count=len(genomes))
        counts = np.array([len(self.values[g]) for g in genomes], dtype=float)
        return means, counts
