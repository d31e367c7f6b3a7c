"""`EngineConformanceSuite`: the engine contract as a pytest test class to subclass."""

from __future__ import annotations

import itertools
import warnings
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any

import pytest

import compileiq.search_spaces.base as ss
from compileiq.engines.base import PLUGIN_API, Engine, Evaluation
from compileiq.errors import SearchSpaceExhaustedError, SearchSpaceExhaustedWarning
from compileiq.evaluation import evaluate
from compileiq.registry import register_worker, resolve_engine, restore, snapshot
from compileiq.score import Score
from compileiq.search_spaces.space import Genome, SearchSpace
from compileiq.worker import BaseWorker

__all__ = ["EngineConformanceSuite", "drive", "genome_cost"]

Cost = Callable[[Genome], "tuple[float, ...] | None"]


def genome_cost(genome: Genome, num_objectives: int = 1, fail_every: int = 0) -> tuple[float, ...] | None:
    """A deterministic cost of a genome (a bowl around gene value 3; the second objective
    pulls the other way); None, a failed evaluation, when `fail_every` divides the gene sum."""
    total = sum(genome)
    if fail_every and total % fail_every == 0:
        return None
    first = float(sum((g - 3) ** 2 for g in genome))
    costs = (first, float(sum((g - 1) ** 2 for g in genome) + total % 3))
    return costs[:num_objectives] if num_objectives <= 2 else costs + tuple(float(i) for i in range(num_objectives - 2))


def drive(
    engine: Engine, *, generations: int, pool_size: int, cost: Cost, max_refills: int = 10,
    declared: set[Genome] | None = None,
) -> list[tuple[int, list[Genome]]]:
    """Run the ask/tell loop as the `Search` driver does, refills included: every batch asked,
    as (generation, genomes). `SearchSpaceExhaustedError` propagates. `declared`, when given,
    collects the declared re-measurements (`Engine.remeasured`) of every ask."""
    asked: list[tuple[int, list[Genome]]] = []
    for generation in range(generations):
        needed, refills = pool_size, 0
        while needed > 0 and refills <= max_refills:
            genomes = engine.ask(needed, generation)
            if declared is not None:
                declared.update(getattr(engine, "remeasured", ()))
            asked.append((generation, list(genomes)))
            evaluations = [Evaluation(g, cost(g)) for g in genomes]
            engine.tell(evaluations)
            needed -= sum(e.costs is not None for e in evaluations)
            refills += 1
    return asked


class _InlineWorker(BaseWorker):
    """Evaluates in the calling thread; the kit's own worker, so an engine needs no worker plugin."""

    name = "compileiq-engine-kit-inline"

    def run(self, *, function: Any, params_pool: Sequence[Any], params_ids: Sequence[Any],
            num_function_returns: int = 1, **kwargs: Any) -> list[Score]:
        return [self.deliver(evaluate(function, p, param_id=i, num_objectives=num_function_returns))
                for p, i in zip(params_pool, params_ids)]


def _tile_fits(config: dict[str, Any]) -> bool:
    """The kit's callable constraint: a tile of `x` by `y` elements fits in 64 (`y` knockable)."""
    return bool(config["x"] * config.get("y", 1) <= 64)


def _objective(config: dict[str, Any]) -> float:
    return float((config["a"] - 7) ** 2 + len(str(config["b"])) + config["c"])


class EngineConformanceSuite:
    """Checks an engine against the compileiq engine contract. Subclass it in three lines::

        from compileiq.testing import EngineConformanceSuite

        class TestMyEngine(EngineConformanceSuite):
            __test__ = True
            engine_name = "mine"      # resolved through the real registry

    It checks: discovery (the registry resolves the name, `name` and `plugin_api` match);
    that the same seed and the same scores give the same asks (and another seed other ones);
    that every ask returns exactly `n` genomes never proposed before, inside the space; that
    failed evaluations (`costs=None`), even a whole failed generation, are handled; that
    exhaustion raises `SearchSpaceExhaustedError` (and a `Search` ends with
    `SearchSpaceExhaustedWarning`); several objectives; unknown options raising TypeError;
    `sample()` leaving the state alone; and that an interrupted `Search` resumes into exactly
    the run it would have been (journal replay).

    Constraints: `constrained_space()` (a kernel-like space where about a third of the
    configurations are feasible, an expression and a callable constraint) is searched and every
    genome asked, refills and `sample()` included, must satisfy them; exhaustion must count
    feasible configurations only. Override `constrained_space` / `small_constrained_space`
    (and `satisfies_constraints`) to check on your own.
    """

    __test__ = False

    engine_name: str = ""
    """The engine name under test."""
    engine_options: dict[str, Any] = {}
    """Extra options given to every engine the suite builds (never `seed`)."""
    objective_counts: Sequence[int] = (1, 2)
    """The numbers of objectives the engine supports."""
    generations: int = 4
    pool_size: int = 6

    # -- what the tests run on (override to adjust) -------------------------------------------

    def space(self) -> SearchSpace:
        """The main space: ranges, a choice, a float range and a knockable literal (1,860 configurations)."""
        return SearchSpace.from_input({
            "a": ss.range(0, 30), "b": ss.choice(["x", "yy", "zzz"]), "c": ss.range(0.0, 1.0, 0.25),
            "d": ss.literal("-flag", knockout_prob=0.5),
        })

    def small_space(self) -> SearchSpace:
        """A space of 6 configurations, for exhaustion."""
        return SearchSpace.from_input({"a": ss.range(0, 2), "b": ss.choice([1, 2])})

    def make(self, space: SearchSpace | None = None, *, seed: int = 7, num_objectives: int = 1,
             pool_size: int | None = None, **options: Any) -> Engine:
        """An engine of `engine_name` as `Search` builds it."""
        cls = resolve_engine(self.engine_name)
        return cls(self.space() if space is None else space, num_objectives=num_objectives,
                   pool_size=self.pool_size if pool_size is None else pool_size, seed=seed,
                   **{**self.engine_options, **options})

    def run_loop(self, engine: Engine, *, num_objectives: int = 1, fail_every: int = 0,
                 generations: int | None = None, declared: set[Genome] | None = None,
                 ) -> list[tuple[int, list[Genome]]]:
        """`drive` the engine over `genome_cost`, checking each batch's size."""
        asked = drive(engine, generations=self.generations if generations is None else generations,
                      pool_size=self.pool_size, declared=declared,
                      cost=lambda g: genome_cost(g, num_objectives, fail_every))
        for generation, genomes in asked:
            assert isinstance(genomes, list), f"ask() returned {type(genomes).__name__}, not a list of genomes"
            assert genomes, f"ask() returned no genome in generation {generation}"
        return asked

    # -- constraints -------------------------------------------------------------------------

    def constrained_space(self) -> SearchSpace:
        """A kernel-like constrained space: block sizes whose product is bounded, a tiling that
        must divide the block, a knockable parameter and a callable constraint: 460 of the 1,280
        configurations are feasible, so an engine ignoring the constraints
        breaks them within its first batch."""
        return SearchSpace.from_input({
            "bx": ss.choice([1, 2, 4, 8, 16, 32, 64, 128]), "by": ss.choice([1, 2, 4, 8, 16]),
            "x": ss.choice([1, 2, 4, 8]), "y": ss.choice([1, 2, 4], knockout_prob=0.3),
            "unroll": ss.choice([0, 1]),
        }).with_constraints(["bx * by <= 64", "bx % x == 0", "unroll == 0 or x >= 2", _tile_fits])

    def small_constrained_space(self) -> SearchSpace:
        """A constrained space of 12 configurations, 7 of them feasible, for exhaustion."""
        return SearchSpace.from_input({"a": ss.range(0, 5), "b": ss.choice([1, 2])}).with_constraints(["a + b <= 4"])

    def satisfies_constraints(self, space: SearchSpace, genome: Genome) -> bool:
        """Whether `genome` satisfies the constraints of `space` (its own public check)."""
        assert space.constraints is not None, "constrained_space() must return a space with constraints"
        return space.constraints.check(genome)

    def _feasible(self, space: SearchSpace) -> list[Genome]:
        """Every feasible genome, by brute force over the Cartesian product (not the engine's count)."""
        product = itertools.product(*(space.gene_options(i) for i in range(len(space.params))))
        return [g for g in product if self.satisfies_constraints(space, g)]

    # -- fixtures -------------------------------------------------------------------------

    @pytest.fixture
    def engine_cls(self) -> type[Engine]:
        """The engine class, resolved by name through the real registry."""
        assert self.engine_name, "set engine_name on your EngineConformanceSuite subclass"
        return resolve_engine(self.engine_name)

    @pytest.fixture
    def inline_worker(self) -> Iterator[str]:
        """The name of an in-process worker for the end-to-end tests (unregistered afterwards)."""
        saved = snapshot()
        register_worker(_InlineWorker.name, _InlineWorker)
        yield _InlineWorker.name
        restore(saved)

    # -- discovery ------------------------------------------------------------------------

    def test_resolves_through_registry(self, engine_cls: type[Engine]) -> None:
        assert issubclass(engine_cls, Engine), f"{engine_cls!r} is not a subclass of compileiq.engines.Engine"
        assert engine_cls.name == self.engine_name, "the class attribute `name` must equal the engine name"
        assert engine_cls.plugin_api == PLUGIN_API

    def test_unknown_option_is_a_type_error(self) -> None:
        with pytest.raises(TypeError, match="compileiq_kit_unknown_option"):
            self.make(compileiq_kit_unknown_option=1)

    # -- reproducibility --------------------------------------------------------------------

    def test_same_seed_and_scores_give_the_same_asks(self) -> None:
        first = self.run_loop(self.make(seed=11), fail_every=7)
        second = self.run_loop(self.make(seed=11), fail_every=7)
        assert first == second, "the same seed and the same evaluations must give the same asks"
        other = self.run_loop(self.make(seed=12), fail_every=7)
        assert other != first, "another seed must give other asks (is the seed used?)"

    def test_sample_leaves_the_state_alone(self) -> None:
        engine = self.make(seed=5)
        drawn = engine.sample(4)
        assert len(drawn) == 4 and all(self._in_space(engine.space, g) for g in drawn)
        assert self.run_loop(engine) == self.run_loop(self.make(seed=5)), "sample() changed what ask() proposes"

    # -- what ask() returns -------------------------------------------------------------------

    def _in_space(self, space: SearchSpace, genome: Genome) -> bool:
        return (isinstance(genome, tuple) and len(genome) == len(space.params)
                and all(gene in space.gene_options(i) for i, gene in enumerate(genome)))

    @pytest.mark.parametrize("fail_every", [0, 5])
    def test_exactly_n_unseen_genomes_per_ask(self, fail_every: int) -> None:
        engine = self.make()
        seen: set[Genome] = set()
        for generation in range(self.generations):
            for n in (self.pool_size, 1, 3):  # a batch, then refill-sized asks
                genomes = engine.ask(n, generation)
                assert len(genomes) == n, f"ask({n}, {generation}) returned {len(genomes)} genomes"
                declared: frozenset[Genome] = getattr(engine, "remeasured", frozenset())
                assert all(g in seen for g in declared), (
                    f"remeasured lists genomes never evaluated: {[g for g in declared if g not in seen]}")
                repeated = [g for g in genomes if g in seen and g not in declared]
                assert not repeated and len(set(genomes)) == n, (
                    f"ask() proposed a genome twice (not a declared re-measurement): {repeated}")
                seen.update(genomes)
                engine.tell([Evaluation(g, genome_cost(g, 1, fail_every)) for g in genomes])

    def test_respects_the_space(self) -> None:
        engine = self.make()
        space = engine.space
        for _, genomes in self.run_loop(engine, fail_every=4):
            outside = [g for g in genomes if not self._in_space(space, g)]
            assert not outside, f"ask() proposed genomes outside the space: {outside[:3]}"
            for genome in genomes:
                assert space.encode(space.decode(genome)) == genome, f"{genome} does not decode to a configuration"

    def test_respects_constraints(self) -> None:
        space = self.constrained_space()
        feasible = len(self._feasible(space))
        assert 0 < feasible < space.cardinality, "constrained_space() must rule some configurations out"
        engine = self.make(space)
        drawn = engine.sample(2 * self.pool_size)
        broken = [g for g in drawn if not self.satisfies_constraints(space, g)]
        assert not broken, f"sample() drew genomes that break the constraints: {broken[:3]}"
        declared: set[Genome] = set()
        asked = self.run_loop(engine, fail_every=4, declared=declared)
        proposed = [g for _, genomes in asked for g in genomes]
        broken = [g for g in proposed if not self.satisfies_constraints(space, g)]
        assert not broken, (
            f"ask() proposed {len(broken)} of {len(proposed)} genomes that break the constraints: {broken[:3]}"
        )
        outside = [g for g in proposed if not self._in_space(space, g)]
        once = [g for g in proposed if g not in declared]
        assert not outside and len(set(once)) == len(once), (
            "constrained asks must stay in the space, once each (but for declared re-measurements)")

    def test_exhaustion_counts_feasible_configurations_only(self) -> None:
        space = self.small_constrained_space()
        feasible = sorted(self._feasible(space))
        assert 0 < len(feasible) < space.cardinality, "small_constrained_space() must rule some configurations out"
        engine = self.make(space, pool_size=4)
        asked: list[Genome] = []
        while len(feasible) - len(asked) >= 3:
            batch = engine.ask(3, len(asked))
            engine.tell([Evaluation(g, genome_cost(g)) for g in batch])
            asked += [g for g in batch if g not in getattr(engine, "remeasured", ())]
        left = len(feasible) - len(asked)
        with pytest.raises(SearchSpaceExhaustedError):
            engine.ask(left + 1, 99)  # more than the feasible configurations left
        asked += engine.ask(left, 99) if left else []
        assert sorted(asked) == feasible, "every feasible configuration exactly once, and nothing infeasible"
        with pytest.raises(SearchSpaceExhaustedError):
            engine.ask(1, 100)

    @pytest.mark.parametrize("num_objectives", [1, 2, 3])
    def test_objectives(self, num_objectives: int) -> None:
        if num_objectives not in self.objective_counts:
            pytest.skip(f"{num_objectives} objective(s) not in objective_counts")
        asked = self.run_loop(self.make(num_objectives=num_objectives), num_objectives=num_objectives, fail_every=6)
        assert sum(len(g) for _, g in asked) >= self.generations * self.pool_size

    # -- failures and exhaustion --------------------------------------------------------------

    def test_handles_failed_evaluations(self) -> None:
        engine = self.make()
        everything_fails = engine.ask(self.pool_size, 0)
        engine.tell([Evaluation(g, None) for g in everything_fails])  # a whole generation failed
        refill = engine.ask(self.pool_size, 0)
        assert len(refill) == self.pool_size and not set(refill) & set(everything_fails)
        engine.tell([Evaluation(g, genome_cost(g)) for g in refill])
        declared: set[Genome] = set()
        later = self.run_loop(engine, fail_every=2, declared=declared)  # about half fails from here on
        proposed = [g for _, batch in later for g in batch if g not in declared]
        assert len(proposed) == len(set(proposed)) and not set(proposed) & {*everything_fails, *refill}

    def test_exhaustion_raises_the_documented_error(self) -> None:
        engine = self.make(self.small_space(), pool_size=4)
        first = engine.ask(4, 0)
        engine.tell([Evaluation(g, genome_cost(g)) for g in first])
        with pytest.raises(SearchSpaceExhaustedError):
            engine.ask(4, 1)  # only 2 configurations are left
        last = engine.ask(2, 1)
        assert sorted([*first, *last]) == sorted(engine.space.enumerate_genomes()), "every configuration once"
        engine.tell([Evaluation(g, genome_cost(g)) for g in last])
        with pytest.raises(SearchSpaceExhaustedError):
            engine.ask(1, 2)

    def test_search_ends_with_a_warning_when_the_space_runs_out(self, inline_worker: str, tmp_path: Path) -> None:
        from compileiq.ciq import Search
        from compileiq.engines.base import EngineConfig
        from compileiq.types import SearchConfiguration

        search = Search(objective_function=lambda c: float(c["a"] + c["b"]),
                        search_space={"a": ss.range(0, 5), "b": ss.choice([1, 2])},
                        search_config=SearchConfiguration(generations=5, pool_size=6), worker_type=inline_worker,
                        engine=EngineConfig(self.engine_name, {"seed": 3, **self.engine_options}),
                        cache_folder=tmp_path, disable_progress_bar=True)
        with pytest.warns(SearchSpaceExhaustedWarning):
            result = search.start()
        assert len(result) == 12, "a search ends when all 12 configurations were evaluated"

    # -- resume -------------------------------------------------------------------------------

    def _search(self, worker: str, tmp_path: Path, objective: Callable[[dict[str, Any]], float]) -> Any:
        from compileiq.ciq import Search
        from compileiq.engines.base import EngineConfig
        from compileiq.types import SearchConfiguration

        return Search(objective_function=objective,
                      search_space={"a": ss.range(0, 30), "b": ss.choice(["x", "yy", "zzz"]),
                                    "c": ss.range(0.0, 1.0, 0.25)},
                      search_config=SearchConfiguration(generations=3, pool_size=6), worker_type=worker,
                      engine=EngineConfig(self.engine_name, {"seed": 21, **self.engine_options}),
                      cache_folder=tmp_path, disable_progress_bar=True)

    def test_interrupted_search_resumes_into_the_same_run(self, inline_worker: str, tmp_path: Path) -> None:
        from compileiq.ciq import Search

        calls: list[dict[str, Any]] = []

        def stops(config: dict[str, Any]) -> float:
            calls.append(config)
            if len(calls) == 9:
                raise KeyboardInterrupt
            return _objective(config)

        with warnings.catch_warnings():
            warnings.simplefilter("ignore", UserWarning)
            interrupted = self._search(inline_worker, tmp_path / "a", stops)
            with pytest.raises(KeyboardInterrupt):
                interrupted.start()
            resumed = Search.resume(interrupted.cache_folder, objective_function=_objective).start()
            reference = self._search(inline_worker, tmp_path / "b", _objective).start()
        assert list(resumed.df_results["params"]) == list(reference.df_results["params"]), (
            "the resumed run must replay the journal and go on exactly as the uninterrupted run"
        )
