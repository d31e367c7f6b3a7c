"""The engine contract: an ask/tell optimizer over genomes of a `SearchSpace`.

The driver (`Search`) calls, per generation `g`: `ask(pool_size, g)`, evaluates, `tell(...)`,
then `ask(deficit, g)` again while failures left positions unfilled. Costs are always
minimized: the driver negates them for "max" problems. A failed evaluation has `costs=None`.
Given the same seed and the same evaluations told in the same order, an engine must propose
the same genomes: that is what makes runs reproducible and resumable. A genome is proposed
once, unless the engine declares it a re-measurement (`Engine.remeasured`): on a noisy
objective an engine may measure an evaluated configuration again.
"""

from __future__ import annotations

import random
from abc import ABC, abstractmethod
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, ClassVar

from compileiq.errors import SearchSpaceExhaustedError
from compileiq.search_spaces.space import Genome, SearchSpace

__all__ = ["PLUGIN_API", "Engine", "EngineConfig", "Evaluation"]

PLUGIN_API = 1
"""The engine plugin API version this core provides."""


@dataclass(frozen=True)
class EngineConfig:
    """Which engine to use and its options, e.g. `EngineConfig("genetic", {"seed": 7})`."""

    name: str = "genetic"
    options: dict[str, Any] = field(default_factory=dict)

    @classmethod
    def coerce(cls, value: str | EngineConfig | None, default: str) -> EngineConfig:
        if value is None:
            return cls(default)
        if isinstance(value, EngineConfig):
            return cls(value.name.strip().lower(), dict(value.options))
        if isinstance(value, str):
            return cls(value.strip().lower())
        raise TypeError(
            f"engine={value!r} ({type(value).__name__}) is not usable; pass an engine name such as "
            "'genetic' or EngineConfig(name, options)."
        )


@dataclass(frozen=True)
class Evaluation:
    """A genome with its costs (minimized, one per objective), or None when it failed."""

    genome: Genome
    costs: tuple[float, ...] | None


class Engine(ABC):
    """Base class of engines. Subclasses set `name` and implement `ask` and `tell`.

    Args:
        space: the compiled search space.
        num_objectives: how many costs each evaluation has.
        pool_size: the evaluations per generation the driver will ask for.
        seed: the seed of every random choice (None: drawn from the OS, see `self.seed`).
        init_with_true_random_threshold: share of initial samples of seeded ranges drawn in
            their window.
        options: engine-specific options; an unknown one must raise TypeError naming it.
    """

    name: ClassVar[str] = ""
    plugin_api: ClassVar[int] = PLUGIN_API

    def __init__(
        self,
        space: SearchSpace,
        *,
        num_objectives: int = 1,
        pool_size: int = 32,
        seed: int | None = None,
        init_with_true_random_threshold: float | None = 0.9,
        **options: Any,
    ) -> None:
        if options:
            raise TypeError(
                f"{type(self).__name__} does not take the option(s) {sorted(options)}; "
                f"see the '{self.name}' engine's documentation for the options it accepts."
            )
        self.space = space
        self.num_objectives = num_objectives
        self.pool_size = pool_size
        self.seed = random.SystemRandom().randrange(2**32) if seed is None else int(seed)
        self.seed_threshold = init_with_true_random_threshold
        self.rng = random.Random(self.seed)
        self.seen: set[Genome] = set()
        self.pending: tuple[Genome, ...] = ()
        """Candidates asked and not yet told. With asynchronous scheduling the driver sets it
        before each `ask`; an engine may keep new candidates away from them (the genetic
        engine's batch-diversity penalty does). Never asked again either way (`seen`)."""
        self.remeasured: frozenset[Genome] = frozenset()
        """The genomes of the last `ask` that are declared re-measurements: configurations
        already evaluated (told), asked again to measure their noise or to confirm an
        incumbent. The only repeats an engine may propose; each is evaluated and recorded again
        (a results row per measurement) and told like any other evaluation."""

    @abstractmethod
    def ask(self, n: int, generation: int) -> list[Genome]:
        """Propose `n` distinct genomes never proposed before, except the declared
        re-measurements of evaluated ones (listed in `remeasured`); raise
        SearchSpaceExhaustedError if impossible."""

    @abstractmethod
    def tell(self, evaluations: Sequence[Evaluation]) -> None:
        """Learn from evaluated genomes (in the order they were asked)."""

    def recommend(self) -> Genome | None:
        """The evaluated genome the engine believes truly best, or None (no estimate of its own).

        `Search.recommended` reports it after a run; engines that model noise override this
        to keep the winner's curse (a lucky measurement) out of the answer.
        """
        return None

    def sample(self, n: int) -> list[Genome]:
        """`n` draws from the initial distribution; repeats allowed, state untouched."""
        rng = random.Random(self.seed)
        return [self.space.sample_genome(rng, self.seed_threshold) for _ in range(n)]

    # -- helpers for subclasses -------------------------------------------------------------

    def remaining(self) -> int:
        """How many feasible configurations were never proposed (constraints respected)."""
        return self.space.feasible_cardinality - len(self.seen)

    def fresh_random(self, n: int, max_tries_per_item: int = 50) -> list[Genome]:
        """`n` unseen genomes from the initial distribution, marked as seen.

        Falls back to uniform draws among the unseen ones (enumerated when the space is small)
        when the prior keeps repeating itself; raises SearchSpaceExhaustedError when fewer than
        `n` unseen configurations remain.
        """
        if n > self.remaining():
            raise SearchSpaceExhaustedError(
                f"only {self.remaining()} unseen configuration(s) remain in a space of "
                f"{self.space.feasible_cardinality} feasible, {n} asked."
            )
        out: list[Genome] = []
        tries = 0
        while len(out) < n and tries < n * max_tries_per_item:
            tries += 1
            genome = self.space.sample_genome(self.rng, self.seed_threshold)
            if genome not in self.seen:
                self.seen.add(genome)
                out.append(genome)
        if len(out) < n:
            out.extend(self._unseen_uniform(n - len(out)))
        return out

    def _unseen_uniform(self, n: int) -> list[Genome]:
        space = self.space
        if space.feasible_genomes is not None or space.cardinality <= 1 << 20:
            pool = [g for g in space.enumerate_genomes() if g not in self.seen]
            if len(pool) < n:
                raise SearchSpaceExhaustedError(
                    f"only {len(pool)} unseen feasible configuration(s) remain, {n} asked."
                )
            picked = self.rng.sample(pool, n)
        else:
            picked = []
            options = [space.gene_options(i) for i in range(len(space.params))]
            while len(picked) < n:
                genome = tuple(self.rng.choice(o) for o in options)
                if space.constraints is not None and not space.constraints.check(genome):
                    genome = space.sample_genome(self.rng, 0.0)
                if genome not in self.seen and genome not in picked:
                    picked.append(genome)
        self.seen.update(picked)
        return picked
