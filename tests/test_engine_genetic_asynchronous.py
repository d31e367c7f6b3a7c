"""The genetic engine under asynchronous scheduling: each ask uses every score told before it."""

from __future__ import annotations

import numpy as np
import pytest

import compileiq.search_spaces.base as ss
from compileiq.engines.base import Evaluation
from compileiq.engines.genetic import GeneticEngine
from compileiq.search_spaces.space import Genome, SearchSpace

SPACE = {"x": ss.range(0, 40), "y": ss.range(0, 40)}  # 1681 configurations


def bowl(genome: Genome) -> float:
    return float((genome[0] - 10) ** 2 + (genome[1] - 10) ** 2)


def started(seed: int = 5, thompson: int = 0) -> tuple[GeneticEngine, list[Genome]]:
    """Generation 0 told; four candidates of generation 1 asked and in flight. Asks pick by
    expected improvement unless `thompson` (the option) says otherwise."""
    engine = GeneticEngine(SearchSpace.from_input(SPACE), pool_size=8, seed=seed, thompson=thompson)
    first = engine.ask(8, 0)
    engine.tell([Evaluation(g, (bowl(g),)) for g in first])
    return engine, engine.ask(4, 1)


def distance(engine: GeneticEngine, a: Genome, b: Genome) -> float:
    x = engine._encoder(np.array([a, b], dtype=np.int64))
    return float(np.sqrt(((x[0] - x[1]) ** 2).sum()))


def surprise(engine: GeneticEngine, flying: list[Genome]) -> Genome:
    """A queued candidate (among many others nearby, away from the first in flight), measured
    better than anything so far."""
    queued = [g for g in engine._queue if g not in engine.seen]

    def crowd(g: Genome) -> float:
        return sum(distance(engine, g, h) < 0.08 for h in queued) - 100 * (distance(engine, g, flying[0]) < 0.3)

    far = max(queued, key=crowd)
    engine.seen.add(far)
    engine.tell([Evaluation(far, (-1000.0,))])
    return far


@pytest.mark.parametrize("seed", [5, 6, 8])
def test_an_asynchronous_ask_follows_a_score_told_since_the_queue_was_built(seed: int) -> None:
    informed, flying = started(seed)
    twin, twin_flying = started(seed)
    assert flying == twin_flying
    far = surprise(informed, flying)
    twin.seen.add(far)  # there the same candidate is still in flight, its score not yet in
    picks: dict[str, list[Genome]] = {"informed": [], "twin": []}
    for _ in range(3):  # three completions of other candidates, each followed by an ask
        informed.pending = (*flying, *picks["informed"])
        twin.pending = (*flying, far, *picks["twin"])
        picks["informed"] += informed.ask(1, 1)
        picks["twin"] += twin.ask(1, 1)
    near = {name: float(np.mean([distance(informed, g, far) for g in got])) for name, got in picks.items()}
    assert near["informed"] < 0.75 * near["twin"], f"the new best score must pull the next asks to it: {near}"


def test_generational_refills_serve_the_queue_as_built() -> None:
    """Without candidates in flight (generational scheduling) a refill after a tell takes the next
    queued candidates, as before: generational runs stay bit-identical."""
    informed, flying = started()
    twin, _ = started()
    far = surprise(informed, flying)
    twin.seen.add(far)
    assert informed.ask(3, 1) == twin.ask(3, 1)


def drive_asynchronously(seed: int, thompson: int | None = 64, steps: int = 24, stride: int = 3,
                         lag: int = 4) -> list[Genome]:
    """Four candidates in flight, one ask after each completion (as the asynchronous driver);
    the one to complete at `step` is `step * stride` modulo those in flight (`thompson` None:
    the engine's default)."""
    options = {} if thompson is None else {"thompson": thompson}
    engine = GeneticEngine(SearchSpace.from_input(SPACE), pool_size=8, seed=seed, **options)
    flying = engine.ask(4, 0)
    asked = list(flying)
    for step in range(steps):
        done = flying.pop(step * stride % len(flying))
        engine.tell([Evaluation(done, (bowl(done),))])
        engine.pending = tuple(flying)
        [genome] = engine.ask(1, (step + lag) // 8)
        flying.append(genome)
        asked.append(genome)
    return asked


def test_asynchronous_asks_are_deterministic() -> None:
    def drive() -> list[Genome]:
        return drive_asynchronously(9, steps=40, stride=7, lag=1)

    first = drive()
    assert first == drive()
    assert len(set(first)) == len(first)


def test_a_new_best_told_mid_group_breeds_at_once() -> None:
    """With candidates in flight, a score better than every earlier one makes the next ask breed
    again from parents that include it (the group's parents would otherwise wait for the group
    to complete); a score that is not a new best leaves the parents as they were."""
    engine, flying = started()
    parents = engine._parents_array.copy()
    worse = engine._queue[0]
    engine.seen.add(worse)
    engine.tell([Evaluation(worse, (1e6,))])
    engine.pending = tuple(flying)
    engine.ask(1, 1)
    assert np.array_equal(engine._parents_array, parents), "a worse score must not rebuild the parents"
    best = next(g for g in engine._queue if g not in engine.seen)
    engine.seen.add(best)
    engine.tell([Evaluation(best, (-1.0,))])
    engine.ask(1, 1)
    assert tuple(engine._parents_array[0]) == best, "the new best must lead the parents of the next asks"
    assert engine._prepared == 1  # still group 1: the generation count is the driver's


@pytest.mark.parametrize(("points", "others"), [(30, 1), (120, 8)])
def test_believing_the_candidates_in_flight_equals_conditioning_on_their_predictions(points: int, others: int) -> None:
    """`predict_believing` (what each asynchronous ask uses) is the posterior of the model
    extended by the candidates in flight at their predicted means, without building it: the
    mean stays, the deviation shrinks next to them and nowhere grows."""
    from compileiq.engines._surrogate import GaussianProcess

    rng = np.random.default_rng(points)
    x, y = rng.random((points, 6)), rng.standard_normal(points)
    model = GaussianProcess(x, y)
    flying = rng.random((others, 6))
    queried = np.vstack([rng.random((40, 6)), flying + 0.01])
    believed, _ = model.predict(flying)
    want_mean, want_std = model.extended(flying, np.concatenate([y, believed])).predict(queried)
    mean, std = model.predict_believing(queried, flying)
    plain_mean, plain_std = model.predict(queried)
    np.testing.assert_allclose(mean, want_mean, atol=1e-9)
    np.testing.assert_allclose(std, want_std, atol=1e-9)
    np.testing.assert_allclose(mean, plain_mean, atol=1e-9)
    assert (std <= plain_std + 1e-12).all()
    assert (std[-others:] < 0.5 * plain_std[-others:]).all()  # right next to a candidate in flight


def test_thompson_draws_match_the_believing_posterior() -> None:
    """`sample_believing` draws jointly from the posterior `predict_believing` describes."""
    from compileiq.engines._surrogate import GaussianProcess

    rng = np.random.default_rng(3)
    model = GaussianProcess(rng.random((40, 5)), rng.standard_normal(40))
    flying, queried = rng.random((3, 5)), rng.random((12, 5))
    mean, std = model.predict_believing(queried, flying)
    draws = np.array([model.sample_believing(queried, flying, rng) for _ in range(4000)])
    np.testing.assert_allclose(draws.mean(axis=0), mean, atol=4 * std.max() / np.sqrt(4000) + 1e-3)
    np.testing.assert_allclose(draws.std(axis=0), std, rtol=0.1, atol=2e-3)


def test_thompson_asks_differ_from_expected_improvement_and_are_deterministic() -> None:
    by_draw = [drive_asynchronously(seed, 64) for seed in range(4)]
    assert by_draw == [drive_asynchronously(seed, 64) for seed in range(4)]
    assert by_draw != [drive_asynchronously(seed, 0) for seed in range(4)]
    assert all(len(set(asked)) == len(asked) for asked in by_draw)


def test_thompson_stops_after_its_evaluations() -> None:
    """With `thompson` no larger than the scores told before the first modelled ask, every ask
    is the expected-improvement one."""
    assert drive_asynchronously(7, 4) == drive_asynchronously(7, 0)


def test_thompson_leaves_generational_asks_unchanged() -> None:
    """Without candidates in flight (generational scheduling) the option changes nothing."""
    def generations(thompson: int) -> list[Genome]:
        engine = GeneticEngine(SearchSpace.from_input(SPACE), pool_size=8, seed=11, thompson=thompson)
        asked: list[Genome] = []
        for generation in range(5):
            batch = engine.ask(8, generation)
            engine.tell([Evaluation(g, (bowl(g),)) for g in batch])
            asked += batch
        return asked

    assert generations(64) == generations(0)


@pytest.mark.parametrize(("value", "error"), [(-1, ValueError), (1.5, TypeError), (True, TypeError)])
def test_thompson_option_is_checked(value: object, error: type) -> None:
    with pytest.raises(error):
        GeneticEngine(SearchSpace.from_input(SPACE), pool_size=8, thompson=value)


FLAGS = {**{f"f{i}": ss.literal(1, knockout_prob=0.5) for i in range(6)},
         "level": ss.choice(["O1", "O2", "O3"]), "unroll": ss.choice([1, 2, 4, 8])}


@pytest.mark.parametrize(("space", "expected"), [
    (SPACE, 0),  # ranges: ordered
    ({"bx": ss.choice([16, 32, 64]), "flag": ss.choice([0, 1]), "mode": ss.choice(["a", "b"])}, 0),  # 2 of 3
    ({"bx": ss.choice([16, 32, 64]), "mode": ss.choice(["a", "b"])}, 0),  # half
    (FLAGS, 64),  # knockouts and named choices: 1 of 8 genes ordered
    # a boolean choice is a 0/1 switch (ordered): 1 of 3 genes here
    ({"mode": ss.choice(["a", "b", "c"]), "sched": ss.choice(["x", "y"]), "on": ss.choice([True, False])}, 64),
])
def test_thompson_default_follows_the_share_of_ordered_genes(space: dict, expected: int) -> None:
    """Thompson sampling is on by default only where most genes are unordered (named choices,
    knockouts): on ordered genes expected improvement did better on held-out problems."""
    assert GeneticEngine(SearchSpace.from_input(space), pool_size=8).thompson == expected


def test_an_explicit_thompson_option_overrides_the_default() -> None:
    assert GeneticEngine(SearchSpace.from_input(SPACE), pool_size=8, thompson=64).thompson == 64
    assert GeneticEngine(SearchSpace.from_input(FLAGS), pool_size=8, thompson=0).thompson == 0


def test_thompson_default_on_an_ordered_space_asks_as_expected_improvement() -> None:
    """On an ordered space the default asynchronous asks are those of `thompson=0`."""
    assert drive_asynchronously(3, None) == drive_asynchronously(3, 0)
