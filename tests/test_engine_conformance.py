"""Both built-in engines pass the engine conformance kit; broken engines fail it (through pytester)."""

from __future__ import annotations

import pytest

from compileiq.testing import EngineConformanceSuite

pytest_plugins = ["pytester"]


class TestRandomEngineConformance(EngineConformanceSuite):
    __test__ = True
    engine_name = "random"
    objective_counts = (1, 2, 3)


class TestGeneticEngineConformance(EngineConformanceSuite):
    __test__ = True
    engine_name = "genetic"
    objective_counts = (1, 2, 3)


class TestGeneticRemeasuringConformance(EngineConformanceSuite):
    """With re-measurement on, the probe of the incumbent is a declared repeat: the kit accepts it."""

    __test__ = True
    engine_name = "genetic"
    engine_options = {"remeasure": 0.2}
    objective_counts = (1, 2)


BROKEN = '''
import random

from compileiq.engines.random import RandomEngine
from compileiq.errors import SearchSpaceExhaustedError
from compileiq.registry import register_engine
from compileiq.testing import EngineConformanceSuite


class Good(RandomEngine):
    name = "kit-good"


class Repeats(RandomEngine):
    name = "kit-repeats"

    def ask(self, n, generation):
        genomes = self.fresh_random(n)
        return genomes[:-1] + genomes[:1] if n > 1 else genomes


class Unseeded(RandomEngine):
    name = "kit-unseeded"

    def ask(self, n, generation):
        self.rng = random.Random()  # ignores the seed
        return self.fresh_random(n)


class OutOfSpace(RandomEngine):
    name = "kit-out-of-space"

    def ask(self, n, generation):
        return [(10_000,) + g[1:] for g in self.fresh_random(n)]


class ShortAtTheEnd(RandomEngine):
    name = "kit-short-at-the-end"

    def ask(self, n, generation):
        return self.fresh_random(min(n, self.remaining()))  # returns fewer instead of raising


class ChokesOnFailures(RandomEngine):
    name = "kit-chokes-on-failures"

    def tell(self, evaluations):
        self.best = min(sum(e.costs) for e in evaluations)  # TypeError on a failed evaluation


class Resumeless(RandomEngine):
    name = "kit-resumeless"
    runs = 0

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        type(self).runs += 1
        self.rng = random.Random(self.seed + type(self).runs * 1000)  # a different run every time


class IgnoresConstraints(RandomEngine):
    name = "kit-ignores-constraints"

    def ask(self, n, generation):  # uniform over the Cartesian product, constraints ignored
        if n > self.space.cardinality - len(self.seen):
            raise SearchSpaceExhaustedError("exhausted")
        out = []
        while len(out) < n:
            genome = tuple(self.rng.choice(self.space.gene_options(i)) for i in range(len(self.space.params)))
            if genome not in self.seen:
                self.seen.add(genome)
                out.append(genome)
        return out


class CountsInfeasible(RandomEngine):
    name = "kit-counts-infeasible"

    def remaining(self):  # counts the Cartesian product, not the feasible configurations
        return self.space.cardinality - len(self.seen)

    def ask(self, n, generation):
        if n > self.remaining():
            raise SearchSpaceExhaustedError("exhausted")
        fresh = [g for g in self.space.enumerate_genomes() if g not in self.seen][:n]
        self.seen.update(fresh)
        return fresh


BROKEN_ENGINES = (Repeats, Unseeded, OutOfSpace, ShortAtTheEnd, ChokesOnFailures, Resumeless, IgnoresConstraints,
                  CountsInfeasible)
for cls in (Good, *BROKEN_ENGINES):
    register_engine(cls.name, cls)


class TestGood(EngineConformanceSuite):
    __test__ = True
    engine_name = "kit-good"


for cls in BROKEN_ENGINES:
    globals()["Test" + cls.__name__] = type("Test" + cls.__name__, (TestGood,), {"engine_name": cls.name})
'''


def test_the_kit_catches_each_broken_engine(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(test_broken=BROKEN)
    result = pytester.runpytest_subprocess("-q", "-rf", "-p", "no:cacheprovider", "-W", "ignore::UserWarning")
    failed = {line.split("::", 1)[1].split(" ")[0] for line in result.outlines if line.startswith("FAILED ")}
    outcomes = result.parseoutcomes()
    assert outcomes.get("passed", 0) >= 14, result.outlines[-5:]  # TestGood and the checks each breakage passes
    expected = {
        "TestRepeats::test_exactly_n_unseen_genomes_per_ask[0]",
        "TestUnseeded::test_same_seed_and_scores_give_the_same_asks",
        "TestOutOfSpace::test_respects_the_space",
        "TestShortAtTheEnd::test_exhaustion_raises_the_documented_error",
        "TestChokesOnFailures::test_handles_failed_evaluations",
        "TestResumeless::test_interrupted_search_resumes_into_the_same_run",
        "TestIgnoresConstraints::test_respects_constraints",
        "TestCountsInfeasible::test_exhaustion_counts_feasible_configurations_only",
    }
    assert expected <= failed, f"not caught: {sorted(expected - failed)}; failed: {sorted(failed)}"
    assert not {f for f in failed if f.startswith("TestGood::")}, f"the kit rejects a correct engine: {failed}"
    honours = {"TestUnseeded::test_respects_constraints", "TestResumeless::test_respects_constraints",
               "TestShortAtTheEnd::test_respects_constraints",
               "TestUnseeded::test_exhaustion_counts_feasible_configurations_only",
               "TestResumeless::test_exhaustion_counts_feasible_configurations_only"}
    assert not honours & failed, f"a constraint check fails an engine that honours constraints: {honours & failed}"


def test_the_kits_constrained_space_is_tight_and_checked_independently() -> None:
    """The kit's own constrained space rules most configurations out, and its check agrees with
    the constraints written out by hand (so the kit does not just trust the core's checker)."""
    import itertools

    suite = EngineConformanceSuite()
    space = suite.constrained_space()
    product = list(itertools.product(*(space.gene_options(i) for i in range(len(space.params)))))
    feasible = [g for g in product if suite.satisfies_constraints(space, g)]

    def by_hand(config: dict) -> bool:
        x, y = config["x"], config.get("y", 1)
        return (config["bx"] * config["by"] <= 64 and config["bx"] % x == 0
                and (config["unroll"] == 0 or x >= 2) and x * y <= 64)

    assert [g for g in product if by_hand(space.decode(g))] == feasible
    assert 0.05 < len(feasible) / len(product) < 0.5, f"{len(feasible)} feasible of {len(product)}"
