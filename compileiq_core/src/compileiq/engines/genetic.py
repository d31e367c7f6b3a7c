"""The `genetic` engine (alias `amber`): a surrogate-screened genetic algorithm.

Per generation it breeds many more offspring than it will evaluate (tournament selection,
uniform crossover, typed mutation; see `_variation`), adds a few fresh draws from the initial
distribution, and lets a Gaussian-process surrogate fitted to the scores so far (see
`_surrogate`) pick the `n` with the highest expected improvement, spread out by a penalty
near earlier picks. With several objectives the parents are ranked NSGA-II style (Pareto
front, then crowding) and offspring are picked by the hypervolume their optimistic
predictions would add to the current front (two objectives) or by Pareto rank (more).
"""

from __future__ import annotations

from collections import deque
from collections.abc import Sequence
from typing import Any

import numpy as np

from compileiq.engines._feasibility import FeasibilityMask
from compileiq.engines._noise import Remeasurement
from compileiq.engines._pareto import hypervolume_improvement_2d, nondominated_ranks, pareto_order
from compileiq.engines._surrogate import Encoder, GaussianProcess, expected_improvement, normal_scores
from compileiq.engines._variation import Variation
from compileiq.engines.base import Engine, Evaluation
from compileiq.errors import SearchSpaceExhaustedError
from compileiq.search_spaces.models import ChoiceParamConfig, RangeParamConfig
from compileiq.search_spaces.space import Genome, SearchSpace

__all__ = ["GeneticEngine"]

_MAX_CANDIDATES = 4000
_EXTRA_BATCHES = 3
_RESCORED = 128  # queued candidates re-scored per asynchronous ask (the rest keep their order)
_RESHAPE_PARENTS = 4  # best parents whose reshape neighbourhoods are screened (see `reshape_share`)


def _number(name: str, value: Any, low: float, high: float, *, integer: bool = False) -> Any:
    kind = "an int" if integer else "a number"
    if isinstance(value, bool) or not isinstance(value, int if integer else (int, float)):
        raise TypeError(
            f"genetic engine option {name}={value!r} ({type(value).__name__}) is not {kind}; "
            f"pass {kind} in [{low}, {high}]."
        )
    if not low <= value <= high:
        raise ValueError(f"genetic engine option {name}={value!r} is out of range; pass {kind} in [{low}, {high}].")
    return int(value) if integer else float(value)


class GeneticEngine(Engine):
    """Surrogate-screened genetic algorithm; Pareto ranking and crowding for several objectives.

    Generation 0 is drawn from the initial distribution (knockout priors, seeded windows).
    Later generations breed offspring from the best `parents` configurations, screen them with
    a Gaussian-process surrogate and evaluate the most promising (expected improvement; with
    two objectives, hypervolume improvement; with more, Pareto rank). Failed evaluations rank
    worst, in selection and in the surrogate, which so learns to avoid them. Refills within a
    generation come from the same screened offspring; when those run out of unseen genomes,
    from fresh draws. A configuration is never proposed twice, except as a declared
    re-measurement (`remeasure`, listed in `remeasured`).

    Asynchronous scheduling (one ask after each completion, `pending` the candidates in
    flight): generation 0 ends after `pool_size` draws, and each ask that follows new scores
    conditions the surrogate on them (hyper-parameters stay those fitted for the group), takes
    the candidates in flight in at their predicted values, and re-ranks the queued offspring
    (see `_refresh`; for the first `thompson` evaluations by one posterior draw, see
    `_thompson`); a score that beats every earlier one makes the parents breed again at
    once (see `_new_incumbent`). Generational runs (no `pending`) are unchanged by this.

    Noise: the surrogate's noise level is fitted (leave-one-out), and with one objective the
    parents and the incumbent are ranked by its smoothed values, so one lucky measurement
    stops dominating as soon as its neighbours disagree with it. Randomness comes only from
    `self.rng` (numpy generators are seeded from it), so the same seed and the same scores
    give the same candidates.

    Options (`EngineConfig("genetic", {...})`):
        seed: the seed of every random choice (default: drawn from the OS).
        mutation_probability: per-gene mutation probability in (0, 1]; default None, adaptive:
            each child draws its rate among 0.5, 1, 2 or 4 mutated genes on average.
        crossover_probability: probability that a child mixes two parents (uniform crossover);
            default 0.9.
        tournament_size: parents compared per tournament; default 3 when most genes that can
            change are choices among several values (kernel-like, categorical spaces, where
            more selection pressure found the optimum sooner on held-out seeds and synthetic
            spaces), else 2.
        parents: how many of the best configurations breed; default `pool_size` (twice that
            with several objectives, to hold a spread of the front). `survivor_count`
            (upstream amber's name) is accepted as an alias.
        screening: offspring bred per evaluation and screened by the surrogate (default 25, at
            most 4000 per generation); 1 turns the surrogate off (a plain GA).
        fresh_share: share of screened candidates drawn fresh from the initial distribution
            (default 0.1), which keeps some global exploration.
        diversity: radius, in surrogate length scales, of the penalty that keeps one batch
            (and, with asynchronous scheduling, when a group's queue is built, the candidates
            still in flight: `pending`) from crowding around the incumbent (default 0.5 with one objective, 0 with
            several, where the hypervolume acquisition spreads the batch by itself).
        surrogate_points: most evaluations the surrogate is fitted to (default 150: the best
            two thirds and the most recent third); bounds the engine's time per generation.
        ordinal_weight: weight of the ordinal feature the surrogate adds, beside its one-hot
            block, for a choice among three or more numbers (its rank over the number of
            values, times this weight); default 1 with one objective (the order counts as much
            as any change of value), 0 (one-hot only) with several, where it was not measured.
            Kernel spaces' power-of-two choices (tile sizes, vector widths) are ordered: found
            gemm's optimum within 100 evaluations more often on held-out seeds.
        local_search: evaluations after which, with one objective, the best parent's whole
            one- and two-step neighbourhood (every configuration one or two genes away; range
            genes 1, 2, 4, ... grid steps) is screened with the offspring, a local exhaustive
            move that finishes off an optimum the crossover and mutation keep circling. Only
            when that neighbourhood is no larger than the offspring screened per generation
            (kernel-like spaces of a dozen genes; wide spaces gain nothing). Default 64; None
            turns it off (and `reshape_share` with it).
        reshape_share: where that neighbourhood is too large, the share of each batch (default
            0.5; 0 turns it off) kept for a smaller, multiplicative one around the 4 best
            parents: each choice among numbers moved one rank, or to the value nearest half or
            twice its own, and each pair of them moved in opposite directions (one halved, the
            other doubled: a thread block or tile of the same size, another shape). Those
            neighbours join the screened offspring and the share goes to the ones with the
            highest expected improvement (with asynchronous scheduling they stay first in the
            queue). Spaces without such choices are unchanged. On a measured dedispersion space
            (held-out seeds, noise-free) it took the runs within 0.16 % of the best at 100
            evaluations from 95 to 129 of 300, at 200 from 177 to 255.
        initial_spread: the first generation draws this many times the configurations asked
            from the initial distribution and keeps the asked number spread out: greedy
            maximin distance over the surrogate's features of the choices among numbers
            (sizes, factors, 0/1 switches; other genes keep their draws). Default 16; 0 or 1
            turns it off, and spaces without such choices are unchanged. On measured kernel
            spaces (held-out seeds, noise-free) it took the runs within 0.16 % of the best
            dedispersion configuration at 100 evaluations from 129 to 160 of 300, and gemm's
            runs at the optimum from 211 to 230 of 300.
        derived_features: weight of the features the surrogate derives from the declared
            expression constraints (0: none): one per distinct arithmetic operand of a
            comparison or of `%` that reads two or more parameters (a thread count in
            `32 <= bx * by <= 1024`, a tile's shared memory, `MDIMC * VWM` in a divisibility
            rule), its log2 (or its rank when not positive) scaled to [0, weight] like the rank
            feature. Default 2 with one objective, 0 (none) with several, where it was not
            measured. Callable constraints name none; without expression constraints nothing
            changes. On measured kernel spaces (held-out seeds, 100 evaluations, noise-free) it
            found the optimum more often: convolution 124 -> 146 runs of 300, gemm 211 -> 238;
            dedispersion unchanged (129 -> 136 within 0.16 %).
        thompson: asynchronous scheduling, one objective: while fewer than this many
            evaluations were told, each ask serves the queued candidate that minimizes one joint
            draw from the surrogate's posterior (believing the candidates in flight), rather
            than the one with the highest expected improvement (asynchronous parallel Thompson
            sampling, Kandasamy et al. 2018); 0 turns it off. Default 64 where most genes that
            vary are unordered (named choices, knockouts), else 0: where at least half are
            ordered (ranges, choices among numbers) expected improvement is followed from the
            start. The draws spread the early asks as a generational batch's spread does: on
            the flags problem (deceptive flag pairs, held-out seeds) asynchronous runs ended
            within 5 % of the optimum on 99 of 200 seeds against 83 without it (generational:
            98); on ordered spaces they cost: sphere's regret 1.1-1.2 times (geometric mean),
            and on measured kernel spaces and 40 synthetic kernel-like spaces (held-out seeds)
            good configurations were found later. Generational runs (no `pending`) are
            unchanged.
        measurement_noise: relative standard deviation of repeated measurements of one
            configuration (e.g. 0.01 for 1 %); default 0. When set, `recommend()` (reported as
            `Search.recommended`) guards against the winner's curse; see `recommend`.
        remeasure: share of the evaluations (at most 0.5) that may re-measure configurations
            already evaluated, one objective only; default 0 (off). When set, the engine first
            measures its incumbent again (one probe): if the two measurements agree within
            0.1 % the objective is taken as noise-free and nothing more is repeated; if not,
            the relative noise is estimated from the repeats (unless `measurement_noise` is
            declared) and, while at least two configurations could still beat the best within
            the noise, up to this share of the evaluations re-measures the contenders for the
            incumbent (lowest median minus two standard errors); a configuration's median
            measurement then stands in the archive. `recommend()` then weighs each configuration's own repeats.
            Helps where many configurations lie within the noise of the best (a measured
            dedispersion space); costs evaluations where the optimum is isolated and not yet
            found, hence off by default.
    """

    name = "genetic"

    def __init__(self, space: SearchSpace, **kwargs: Any) -> None:
        options = {key: kwargs.pop(key) for key in list(kwargs) if key in _OPTION_NAMES}
        if "survivor_count" in options:
            if "parents" in options:
                raise TypeError("genetic engine: pass either parents or survivor_count (its alias), not both.")
            options["parents"] = options.pop("survivor_count")
        super().__init__(space, **kwargs)
        mutation = options.get("mutation_probability")
        self.mutation_probability = None if mutation is None else _number("mutation_probability", mutation, 1e-9, 1)
        self.crossover_probability = _number("crossover_probability", options.get("crossover_probability", 0.9), 0, 1)
        self.tournament_size = _number("tournament_size", options.get("tournament_size", _default_tournament(space)),
                                       1, 64, integer=True)
        default_parents = self.pool_size if self.num_objectives == 1 else 2 * self.pool_size
        self.parents = _number("parents", options.get("parents", default_parents), 1, 10**6, integer=True)
        self.screening = _number("screening", options.get("screening", 25), 1, 1000, integer=True)
        self.fresh_share = _number("fresh_share", options.get("fresh_share", 0.1), 0, 1)
        default_diversity = 0.5 if self.num_objectives == 1 else 0.0
        self.diversity = _number("diversity", options.get("diversity", default_diversity), 0, 10)
        self.measurement_noise = _number("measurement_noise", options.get("measurement_noise", 0.0), 0, 1)
        self.surrogate_points = _number("surrogate_points", options.get("surrogate_points", 150), 10, 5000,
                                        integer=True)
        local = options.get("local_search", 64)
        self.local_search = None if local is None else _number("local_search", local, 0, 10**9, integer=True)
        self.reshape_share = _number("reshape_share", options.get("reshape_share", 0.5), 0, 1)
        self._initial: deque[Genome] = deque()  # the first generation's spread picks not yet asked
        self._numbers = [i for i, p in enumerate(space.params) if _among_numbers(p.config)]
        self.initial_spread = _number("initial_spread", options.get("initial_spread", 16), 0, 1000, integer=True)
        default_thompson = 0 if _mostly_ordered(space) else _THOMPSON
        self.thompson = _number("thompson", options.get("thompson", default_thompson), 0, 10**9, integer=True)
        self._reserved: set[Genome] = set()  # queued candidates that a reshape share keeps first
        self.remeasure = _number("remeasure", options.get("remeasure", _REMEASURE), 0, 0.5)
        self._noise = Remeasurement(self.remeasure if self.num_objectives == 1 else 0.0, self.measurement_noise)
        self._index: dict[Genome, int] = {}  # archive position of each evaluated genome
        self._variation = Variation(space, self.mutation_probability, self.crossover_probability,
                                    self.tournament_size)
        default_ordinal = 1.0 if self.num_objectives == 1 else 0.0
        self.ordinal_weight = _number("ordinal_weight", options.get("ordinal_weight", default_ordinal), 0, 10)
        default_derived = _DERIVED if self.num_objectives == 1 else 0.0
        self.derived_features = _number("derived_features", options.get("derived_features", default_derived), 0, 10)
        self._encoder = Encoder(space, self.ordinal_weight, self.derived_features)
        self._feasible = FeasibilityMask(space)
        self._genomes: list[Genome] = []
        self._costs: list[tuple[float, ...] | None] = []
        self._elite: list[int] = []  # archive indices of the current parents, best first
        self._fresh_since = 0  # archive index from which evaluations are new to selection
        self._prepared: int | None = None  # generation the queue below was built for
        self._queue: deque[Genome] = deque()
        self._conditioned = 0  # evaluations the surrogate behind the queue's order has seen
        self._bred = (0, np.inf)  # archive size and best single-objective cost when the queue was built
        self._base: tuple[GaussianProcess, np.ndarray] | None = None  # refreshed model, its archive rows
        # asynchronous scheduling: the surrogate features of the queued candidates, by genome
        self._encoded: tuple[dict[Genome, int], np.ndarray] = ({}, np.zeros((0, self._encoder.width)))
        self._parents_array: np.ndarray | None = None
        self._models: list[GaussianProcess] | None = None
        self._believed: np.ndarray | None = None  # features of the candidates in flight the model believes
        self._incumbent: float = 0.0
        self._front: np.ndarray | None = None
        self._reference: np.ndarray | None = None
        self._hints: list[tuple[int, int] | None] = [None] * self.num_objectives

    # -- contract -----------------------------------------------------------------------------

    def ask(self, n: int, generation: int) -> list[Genome]:
        # near exhaustion new configurations come first: no re-measurement then
        repeats = self._noise.wanted(n, self.pending) if generation > 0 and self.remaining() > n else []
        self.remeasured = frozenset(repeats)
        if len(repeats) == n:
            return repeats
        return self._ask_new(n - len(repeats), generation) + repeats

    def _ask_new(self, n: int, generation: int) -> list[Genome]:
        if n > self.remaining():
            raise SearchSpaceExhaustedError(
                f"only {self.remaining()} unseen configuration(s) remain in a space of "
                f"{self.space.feasible_cardinality} feasible, {n} asked."
            )
        if not any(c is not None for c in self._costs) or (generation == 0 and not self._model_early()):
            if (not self._costs and not self.pending and self.initial_spread > 1 and self._numbers
                    and self._encoder.width and not self._initial):
                self._initial = deque(self._spread_initial(max(n, self.pool_size)))
            out = self._take(n, self._initial)  # asynchronous: the first ask takes a window's worth
            return out + self.fresh_random(n - len(out))
        thompson = bool(self.pending) and self.num_objectives == 1 and len(self._costs) < self.thompson
        if self._prepared != generation or self._new_incumbent():
            self._prepare(generation)
            self._conditioned, self._base = len(self._costs), None
        elif self.pending and self._conditioned < len(self._costs):
            self._refresh(thompson)
        if thompson:
            self._thompson()
        out = self._take(n)
        for _ in range(_EXTRA_BATCHES):
            if len(out) == n:
                break
            self._queue = deque(self._candidates(max(n - len(out), 1)))
            out += self._take(n - len(out))
        if len(out) < n:
            out += self.fresh_random(n - len(out))
        return out

    def tell(self, evaluations: Sequence[Evaluation]) -> None:
        noise_kept = self._noise.enabled
        for evaluation in evaluations:
            costs = evaluation.costs
            if costs is not None:
                costs = tuple(float(c) for c in costs)
                if len(costs) != self.num_objectives or not all(np.isfinite(costs)):
                    costs = None  # a wrong arity or NaN can only be treated as a failure
            genome = tuple(evaluation.genome)
            if noise_kept:  # off by default: no per-measurement bookkeeping on the hot path
                self._noise.record(genome, None if costs is None else costs[0])
            known = self._index.get(genome)
            if known is None:
                self._index[genome] = len(self._genomes)
                self._genomes.append(genome)
                self._costs.append(costs)
            elif self.num_objectives == 1 and self._noise.values.get(genome):
                # a re-measurement: the archive holds the median of the genome's measurements
                self._costs[known] = (float(np.median(self._noise.values[genome])),)

    def recommend(self) -> Genome | None:
        """The evaluated configuration this engine believes truly best (one objective).

        On a noise-free objective (repeats agreed, or re-measurement off and no
        `measurement_noise` declared) the best measured one: from single measurements, a lucky
        draw and a sharp, isolated optimum look alike, and smoothing them away cost real optima
        on measured kernel spaces. On a noisy one (the noise level declared, or measured from
        re-measurements: see `remeasure`), every configuration whose mean measurement is within
        two deviations of the best is a candidate, and the one with the best estimate is
        returned: the surrogate's noise-filtered value (fitted to log values), moved towards
        the configuration's own mean the more often it was measured. A lucky draw its
        neighbours or its own repeats contradict loses (the winner's curse). None before any
        success, and with several objectives (the Pareto front is the answer).
        """
        if self.num_objectives != 1:
            return None
        good = [i for i, c in enumerate(self._costs) if c is not None]
        if not good:
            return None
        values = np.array([self._costs[i][0] for i in good])  # type: ignore[index]
        order = np.argsort(values, kind="stable")
        best = good[int(order[0])]
        top = order[: self.surrogate_points]
        noise = self._noise.noise()
        if not noise or len(good) < 8 or not self._encoder.width or not self._noise.relative:
            return self._genomes[best]
        y = self._noise.log_values(values[top].tolist())
        near = np.flatnonzero(y <= y.min() + 2.0 * noise)
        spread = float(y.std())
        if len(near) < 2 or spread <= 0:
            return self._genomes[best]
        genomes = np.array([self._genomes[good[i]] for i in top], dtype=np.int64)
        model = GaussianProcess(self._encoder(genomes), (y - y.mean()) / spread)
        smoothed = model.smoothed() * spread + y.mean()
        counts = np.array([len(self._noise.values.get(tuple(g), ())) or 1 for g in genomes.tolist()], dtype=float)
        estimate = (smoothed + (counts - 1.0) * y) / counts
        return tuple(int(g) for g in genomes[near[int(np.argmin(estimate[near]))]])

    # -- one generation -----------------------------------------------------------------------

    def _spread_initial(self, n: int) -> list[Genome]:
        """The first `n` configurations: `initial_spread` times as many drawn from the initial
        distribution, the `n` kept picked greedily, each the farthest from those picked before
        (over the surrogate's features of the choices among numbers only: ranges would be pushed
        to their ends, and spreading other choices did worse on the compiler-flags problem)."""
        numbers = self._numbers
        drawn = self.fresh_random(min(n * self.initial_spread, self.remaining()))
        self.seen.difference_update(drawn)
        if len(drawn) <= n:
            return drawn
        rows = np.zeros((len(drawn), len(self.space.params)), dtype=np.int64)
        rows[:, numbers] = np.array(drawn, dtype=np.int64)[:, numbers]
        x = Encoder(self.space, self.ordinal_weight)(rows)  # without derived features
        picked = [0]
        nearest = ((x - x[0]) ** 2).sum(axis=1)
        nearest[0] = -1.0
        while len(picked) < n:  # ties (fewer distinct points than asked): in the order drawn
            farthest = int(np.argmax(nearest))
            picked.append(farthest)
            nearest = np.minimum(nearest, ((x - x[farthest]) ** 2).sum(axis=1))
            nearest[picked] = -1.0
        return [drawn[i] for i in picked]

    def _take(self, n: int, queue: deque[Genome] | None = None) -> list[Genome]:
        """Up to `n` unseen genomes from the front of `queue` (the candidate queue by default),
        marked as seen."""
        queue = self._queue if queue is None else queue
        out: list[Genome] = []
        while queue and len(out) < n:
            genome = queue.popleft()
            if genome not in self.seen:
                self.seen.add(genome)
                out.append(genome)
        return out

    def _prepare(self, generation: int) -> None:
        """Rank the population, pick parents, fit the surrogate and fill the candidate queue."""
        self._prepared = generation
        told = [c[0] for c in self._costs if c is not None]
        self._bred = (len(self._costs), min(told, default=np.inf))
        genomes = np.array(self._genomes, dtype=np.int64).reshape(len(self._genomes), len(self.space.params))
        ok = np.array([c is not None for c in self._costs])
        costs = np.full((len(self._costs), self.num_objectives), np.inf)
        if ok.any():
            costs[ok] = np.array([c for c in self._costs if c is not None])
        # the population: previous parents plus everything evaluated since
        population = np.array(sorted(set(self._elite) | set(range(self._fresh_since, len(self._costs)))),
                              dtype=np.int64)
        self._fresh_since = len(self._costs)
        order = self._rank(costs[population], ok[population])
        ranked = population[order]
        training = self._training_set(ranked, costs, ok)
        self._models, self._believed = None, None
        if self.screening > 1 and self._encoder.width and len(training) >= 4:
            x = self._encoder(genomes[training])
            models = []
            for k in range(self.num_objectives):
                # one objective: rank-based targets (scale-free, robust); several: standardized
                # values, whose differences the hypervolume acquisition needs
                target = costs[training, k]
                y = normal_scores(target) if self.num_objectives == 1 else _standardized(target)
                model = GaussianProcess(x, y, self._hints[k])
                self._hints[k] = model.hint
                models.append(model)
            self._models = models
            smoothed = np.column_stack([m.smoothed() for m in models])
            good = ok[training]
            if len(models) == 1:
                self._incumbent = float(smoothed[good, 0].min()) if good.any() else float(smoothed[:, 0].min())
            if self.num_objectives == 1:
                # rank parents by the smoothed values (noise taken out) where the model knows them
                fitness_rank = np.full(len(costs), np.inf)
                fitness_rank[training[good]] = smoothed[good, 0]
                in_training = np.isin(ranked, training[good])
                trained = ranked[in_training]
                trained = trained[np.argsort(fitness_rank[trained], kind="stable")]
                ranked = np.concatenate([trained, ranked[~in_training]])
            elif len(models) > 1:
                front_costs = smoothed[good] if good.any() else smoothed
                self._front = front_costs[pareto_order(front_costs, needed=self.parents)][: self.parents]
                nondominated = front_costs[nondominated_ranks(front_costs, needed=1) == 0]
                nadir, ideal = nondominated.max(axis=0), nondominated.min(axis=0)
                self._reference = nadir + 0.1 * np.maximum(nadir - ideal, 1e-6)
        elite = [int(i) for i in ranked[ok[ranked]][: self.parents]]
        if not elite:  # nothing succeeded among the population: breed from the least bad
            elite = [int(i) for i in ranked[: self.parents]]
        self._elite = elite
        self._parents_array = genomes[elite]
        self._queue = deque(self._candidates(self.pool_size))

    # -- asynchronous scheduling -------------------------------------------------------------

    def _new_incumbent(self) -> bool:
        """Asynchronous scheduling, one objective: a score told since the queue was built beats
        every earlier one. The group's parents then breed again at once (a new queue, the
        surrogate refitted) rather than only when the group completes: bred once per group, a
        new best would wait up to `pool_size` plus the window's evaluations before its offspring
        and neighbourhood are screened. On held-out seeds (window 8) this cut the median regret
        ratio asynchronous / generational on sphere from 1.25 to 0.37 and on rosenbrock from 1.04
        to 0.71."""
        if not self.pending or self.num_objectives != 1:
            return False
        size, best = self._bred
        return any(c is not None and c[0] < best for c in self._costs[size:])

    def _model_early(self) -> bool:
        """Asynchronous scheduling: once `pool_size` initial draws were asked, generation 0 ends
        for the engine, which models the scores told so far rather than draw more at random."""
        return bool(self.pending) and len(self._costs) + len(self.pending) >= self.pool_size

    def _refresh(self, thompson: bool = False) -> None:
        """Re-rank the queue with every score told since it was built (asynchronous scheduling;
        with `thompson`, only condition the surrogate: `_thompson` orders the queue).

        With asynchronous scheduling each ask follows a tell, while the queue was built when the
        last group completed. The surrogate is conditioned on the scores told since, with the
        hyper-parameters fitted then (a block update of its inverse, no refit), and the
        candidates still in flight (`pending`) join it at their predicted values (the "kriging
        believer": their uncertainty is gone, so expected improvement stops pointing at them and
        their neighbours; on held-out problems this did better than also applying the distance
        penalty of `_spread` to them; `predict_believing` gives that posterior without building
        the larger model). The first `_RESCORED` queued candidates are re-scored by expected
        improvement, from the features kept when the queue was screened, and the best comes first.
        One objective only: with several, the queue is served as built.
        """
        covered, self._conditioned = self._conditioned, len(self._costs)
        if self._models is None or len(self._models) != 1 or not self._queue:
            return
        ok = np.array([c is not None for c in self._costs])
        costs = np.array([c[0] if c is not None else np.inf for c in self._costs])
        if self._base is None:  # the first refresh since the group's fit: start from that model
            rows = self._training_set(np.arange(covered), costs[:covered, None], ok[:covered])
            self._base = (self._models[0], rows)
        base, rows = self._base
        rows = np.concatenate([rows, np.arange(covered, len(costs))])
        new = np.array([self._genomes[i] for i in range(covered, len(costs))], dtype=np.int64)
        y = normal_scores(costs[rows])
        base = base.extended(self._encoder(new), y)
        self._base = (base, rows)
        smoothed = base.smoothed()
        good = ok[rows]
        self._incumbent = float(smoothed[good].min()) if good.any() else float(smoothed.min())
        self._models = [base]
        self._believed = self._encoder(np.array(self.pending, dtype=np.int64)) if self.pending else None
        split = self._split_queue()
        if split is None:
            return
        head, tail = split
        if thompson:
            return
        mean, std = self._predict(self._features(head))
        self._requeue(head, np.argsort(-expected_improvement(mean, std, self._incumbent), kind="stable"), tail)

    def _thompson(self) -> None:
        """Asynchronous Thompson sampling (see the `thompson` option): the first `_RESCORED`
        queued candidates ordered by one joint draw from the surrogate's posterior, which
        believes the candidates in flight at their predictions; the draw's minimum first."""
        if self._models is None or len(self._models) != 1 or not self._queue:
            return
        split = self._split_queue()
        if split is None:
            return
        head, tail = split
        rng = np.random.default_rng(self.rng.getrandbits(64))
        others = self._encoder(np.array(self.pending, dtype=np.int64))
        draw = self._models[0].sample_believing(self._features(head), others, rng)
        self._requeue(head, np.argsort(draw, kind="stable"), tail)

    def _split_queue(self) -> tuple[list[Genome], list[Genome]] | None:
        """The unseen queued candidates as the first `_RESCORED` (re-ordered per ask) and the
        rest; None, with the queue emptied, when none is left."""
        queued = [g for g in self._queue if g not in self.seen]
        if not queued:
            self._queue = deque()
            return None
        return queued[:_RESCORED], queued[_RESCORED:]

    def _requeue(self, head: list[Genome], order: np.ndarray, tail: list[Genome]) -> None:
        """The queue as `head` in `order`, the reshape share kept first, then `tail`."""
        if self._reserved:
            order = np.array(sorted(order.tolist(), key=lambda i: head[i] not in self._reserved), dtype=np.int64)
        self._queue = deque([*(head[i] for i in order), *tail])

    def _predict(self, x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """The single-objective surrogate at rows `x`, believing the candidates in flight (if any)."""
        assert self._models is not None
        if self._believed is None:
            return self._models[0].predict(x)
        return self._models[0].predict_believing(x, self._believed)

    def _features(self, genomes: list[Genome]) -> np.ndarray:
        """Surrogate features of queued candidates: kept from when the queue was screened."""
        index, rows = self._encoded
        at = [index.get(g, -1) for g in genomes]
        if min(at) < 0:
            return self._encoder(np.array(genomes, dtype=np.int64))
        return rows[at]

    def _rank(self, costs: np.ndarray, ok: np.ndarray) -> np.ndarray:
        """Positions of `costs` rows from best to worst; failures last."""
        good = np.flatnonzero(ok)
        bad = np.flatnonzero(~ok)
        if self.num_objectives == 1:
            good = good[np.argsort(costs[good, 0], kind="stable")]
        else:
            good = good[pareto_order(costs[good], needed=self.parents)]
        return np.concatenate([good, bad])

    def _training_set(self, ranked: np.ndarray, costs: np.ndarray, ok: np.ndarray) -> np.ndarray:
        """Archive indices for the surrogate: the best two thirds, then the most recent others."""
        limit = self.surrogate_points
        total = len(costs)
        if total <= limit:
            return np.arange(total)
        if self.num_objectives == 1:
            best = np.argsort(costs[:, 0], kind="stable")[: (2 * limit) // 3]
        else:
            best = ranked[: (2 * limit) // 3]
        taken = np.zeros(total, dtype=bool)
        taken[best] = True
        recent = np.flatnonzero(~taken)[-(limit - len(best)):]
        return np.sort(np.concatenate([best, recent]))

    def _candidates(self, n: int) -> list[Genome]:
        """Unseen candidates for `n` evaluations, most promising first."""
        assert self._parents_array is not None
        rng = np.random.default_rng(self.rng.getrandbits(64))
        self._reserved = set()
        screened = self._models is not None
        total = min(max(n * self.screening, n), max(_MAX_CANDIDATES, 2 * n)) if screened else n * 2
        fresh = int(round(total * self.fresh_share)) if screened else 0
        children = self._variation.offspring(self._parents_array, total - fresh, rng)
        reshapes: set[Genome] = set()
        slots = 0
        if (screened and self.num_objectives == 1 and self.local_search is not None
                and len(self._costs) >= self.local_search):
            # a local, exhaustive move: the whole one- and two-step neighbourhood of the best
            # parent joins the offspring, when it is no larger than they are
            local = self._variation.neighbours(self._parents_array[0], True, total)
            if local is not None:
                children = np.concatenate([children, local])
            elif self.reshape_share > 0:
                # too large: the reshape neighbourhoods of the best parents join instead, and a
                # share of the batch is kept for them
                shapes = np.concatenate([self._variation.reshapes(p)
                                         for p in self._parents_array[:_RESHAPE_PARENTS]])
                children = np.concatenate([children, shapes])
                reshapes = {tuple(r) for r in shapes.tolist()}
                slots = int(round(self.reshape_share * n))
        if self._feasible.constrained:
            # breeding never proposes what the constraints forbid: drop infeasible children,
            # breed again (up to three rounds) while fewer than half are left
            kept = [children[self._feasible(children)]]
            count = len(kept[0])
            for _ in range(3):
                if count >= (total - fresh) // 2:
                    break
                more = self._variation.offspring(self._parents_array, total - fresh, rng)
                kept.append(more[self._feasible(more)])
                count += len(kept[-1])
            children = np.concatenate(kept)
        rows: dict[Genome, None] = {}
        for row in children.tolist():
            genome = tuple(row)
            if genome not in self.seen:
                rows[genome] = None
        for _ in range(fresh):
            genome = self.space.sample_genome(self.rng, self.seed_threshold)
            if genome not in self.seen:
                rows[genome] = None
        candidates = list(rows)
        if not screened or not candidates:
            return candidates
        x = self._encoder(np.array(candidates, dtype=np.int64))
        if self.pending:  # asynchronous scheduling: `_refresh` re-scores the queue from these rows
            self._encoded = (dict(zip(candidates, range(len(candidates)))), x)
        assert self._models is not None
        if len(self._models) == 1:
            mean, std = self._predict(x)
            score = expected_improvement(mean, std, self._incumbent)
            order = self._spread(x, score, n)
            if slots:
                # the reshape share: its neighbours with the highest expected improvement first
                mine = np.array([c in reshapes for c in candidates])
                by_score = np.argsort(-score, kind="stable")
                first = by_score[mine[by_score]][:slots]
                self._reserved = {candidates[i] for i in first.tolist()}
                order = np.concatenate([first, order[~np.isin(order, first)]])
        else:
            predicted = []
            for model in self._models:
                mean, std = model.predict(x)
                predicted.append(mean - 0.5 * std)
            optimistic = np.column_stack(predicted)
            front = self._front if self._front is not None else np.zeros((0, self.num_objectives))
            if self.num_objectives == 2 and self._reference is not None:
                # two objectives: hypervolume improvement of the optimistic prediction; when
                # fewer than n candidates add anything, the Pareto order ranks the others
                score = hypervolume_improvement_2d(front, optimistic, self._reference)
                if np.count_nonzero(score > 0) < n:
                    order = self._pareto_candidates(front, optimistic, n)
                    tie_break = np.empty(len(order))
                    tie_break[order] = np.linspace(1.0, 0.0, len(order))
                    score = score + 1e-9 * score.max(initial=1e-9) * tie_break
                order = self._spread(x, score, n)
            else:
                order = self._pareto_candidates(front, optimistic, n)
        return [candidates[i] for i in order]

    @staticmethod
    def _pareto_candidates(front: np.ndarray, predicted: np.ndarray, n: int) -> np.ndarray:
        """Candidate positions by Pareto rank (then crowding) among the front and themselves."""
        full = pareto_order(np.vstack([front, predicted]), needed=len(front) + n)
        return full[full >= len(front)] - len(front)

    def _spread(self, x: np.ndarray, score: np.ndarray, n: int) -> np.ndarray:
        """Candidates by score, the first `n` picked greedily with a penalty near earlier picks.

        Without it a batch would crowd around the incumbent; the penalty radius is `diversity`
        times the surrogate's length scale.
        """
        order = np.argsort(-score, kind="stable")
        if self.diversity <= 0 or (n <= 1 and not self.pending) or self._models is None:
            return order
        radius = self.diversity * self._models[0].length_scale
        score = np.maximum(score, 0.0) + 1e-300
        nearest = np.full(len(score), np.inf)
        if self.pending:  # candidates still being evaluated (asynchronous scheduling) count as picks
            busy = self._encoder(np.array(self.pending, dtype=np.int64))
            for row in busy:
                nearest = np.minimum(nearest, ((x - row) ** 2).sum(axis=1))
        picked: list[int] = []
        available = np.ones(len(score), dtype=bool)
        for _ in range(min(n, len(score))):
            penalized = np.where(available, score * (1.0 - np.exp(-0.5 * nearest / radius**2)), -1.0)
            best = int(np.argmax(penalized))
            picked.append(best)
            available[best] = False
            nearest = np.minimum(nearest, ((x - x[best]) ** 2).sum(axis=1))
        rest = order[available[order]]
        return np.concatenate([np.array(picked, dtype=np.int64), rest])


def _default_tournament(space: SearchSpace) -> int:
    """3 when choices among several values are most of the mutable genes, else 2."""
    mutable = [p for p in space.params if p.size > 1 or p.knockable]
    choices = [p for p in mutable if isinstance(p.config, ChoiceParamConfig) and p.size > 1]
    return 3 if mutable and 2 * len(choices) >= len(mutable) else 2


def _among_numbers(config: object) -> bool:
    """A choice among two or more values, every one a number."""
    return isinstance(config, ChoiceParamConfig) and config.size > 1 and all(
        isinstance(v, (int, float)) and not isinstance(v, bool) for v in config.vals)


def _mostly_ordered(space: SearchSpace) -> bool:
    """Whether at least half of the genes that vary (knockouts included) are ordered: ranges and
    choices among numbers (sizes, factors, 0/1 switches)."""
    varying = [p for p in space.params if p.size > 1 or p.knockable]
    ordered = sum(isinstance(p.config, RangeParamConfig) or _among_numbers(p.config)
                  for p in varying if p.size > 1)
    return bool(varying) and 2 * ordered >= len(varying)


def _standardized(values: np.ndarray) -> np.ndarray:
    """Zero mean, unit variance; failures (inf) one deviation above the worst success."""
    finite = np.isfinite(values)
    if not finite.any():
        return np.zeros(len(values))
    good = values[finite]
    spread = float(good.std()) or 1.0
    out = np.where(finite, values, good.max() + spread)
    return np.asarray((out - good.mean()) / spread, dtype=float)


_OPTION_NAMES = frozenset({
    "mutation_probability", "crossover_probability", "tournament_size", "parents", "survivor_count",
    "screening", "fresh_share", "surrogate_points", "diversity", "measurement_noise", "remeasure",
    "local_search", "ordinal_weight", "reshape_share", "initial_spread", "derived_features", "thompson",
})

_DERIVED = 2.0  # derived_features with one objective (see its docs)

_THOMPSON = 64  # thompson on spaces whose genes are mostly unordered (see its docs)

_REMEASURE = 0.0
