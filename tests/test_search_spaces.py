"""Search-space builders, validation and the compiled space (contract section 4)."""

from __future__ import annotations

import json
import random
from pathlib import Path

import numpy as np
import pytest

import compileiq.search_spaces.base as ss
from compileiq.errors import SearchSpaceError
from compileiq.search_spaces.space import KNOCKED_OUT, SearchSpace


def values(cfg) -> list:
    return [cfg.at(i) for i in range(cfg.size)]


def test_range_grid_is_inclusive_and_keeps_types() -> None:
    assert values(ss.range(0, 10, 3)) == [0, 3, 6, 9]
    assert values(ss.range(0, 8, 2)) == [0, 2, 4, 6, 8]
    floats = values(ss.range(0.0, 1.0, 0.1))
    assert len(floats) == 11 and floats[3] == 0.30000000000000004 and isinstance(floats[0], float)
    assert values(ss.range(True, 3)) == [1, 2, 3]


@pytest.mark.parametrize(
    ("call", "match"),
    [
        (lambda: ss.range(5, 5), "start < end"),
        (lambda: ss.range(0, 5, 0), "positive step"),
        (lambda: ss.range(0, 5, -1), "positive step"),
        (lambda: ss.range(0, 5, seed_low=-1), "`seed_low`=-1 falls outside"),
        (lambda: ss.range(0, 5, seed_low=3, seed_high=2), "greater than or equal to `seed_low`"),
        (lambda: ss.range("a", 5), "not a finite number"),
        (lambda: ss.choice([]), "choice_list is empty"),
        (lambda: ss.choice("abc"), "not a list"),
        (lambda: ss.literal([1]), "must be a str, int, or float"),
        (lambda: ss.literal(1, knockout_prob=1.5), r"in \[0, 1\]"),
        (lambda: ss.log_sampling(0, 10), "positive bounds"),
    ],
)
def test_malformed_builders_raise_clear_errors(call, match: str) -> None:
    with pytest.raises(SearchSpaceError, match=match):
        call()


def test_knockout_bool_is_a_type_error() -> None:
    with pytest.raises(TypeError, match="is a bool"):
        ss.literal(1, knockout_prob=True)


def test_choice_keeps_mixed_types_and_converts_bools_and_numpy() -> None:
    assert ss.choice([1.5, "s", True, None]).vals == (1.5, "s", 1, None)
    assert ss.choice(np.array([1, 2])).vals == (1, 2)
    assert type(ss.choice([np.float64(2.5)]).vals[0]) is float


def test_log_sampling_is_geometric_with_exact_ends() -> None:
    vals = ss.log_sampling(1, 1000, total=4).vals
    assert vals == pytest.approx((1.0, 10.0, 100.0, 1000.0)) and vals[0] == 1.0 and vals[-1] == 1000.0


def test_knockout_threshold_is_the_legacy_view() -> None:
    assert ss.literal("-O3", knockout_prob=0.25).knockout_threshold == 0.75
    assert ss.range(0, 3).knockout_threshold is None


def test_decode_omits_knocked_out_keys_and_keeps_nesting() -> None:
    space = SearchSpace.from_input(
        {"a": ss.range(0, 3), "y": {"yy1": {"leaf": ss.choice(["p", "q"]), "flag": ss.literal(1, knockout_prob=0.5)}}}
    )
    assert [p.path for p in space.params] == [("a",), ("y", "yy1", "leaf"), ("y", "yy1", "flag")]
    assert space.decode((2, 1, KNOCKED_OUT)) == {"a": 2, "y": {"yy1": {"leaf": "q"}}}
    assert space.decode((0, 0, 0)) == {"a": 0, "y": {"yy1": {"leaf": "p", "flag": 1}}}
    assert space.cardinality == 4 * 2 * 2


def test_list_of_spaces_decodes_to_a_list_in_order() -> None:
    space = SearchSpace.from_input([{"a": ss.range(0, 10)}, {"b": ss.choice(["p", "q"])}])
    assert space.decode((10, 1)) == [{"a": 10}, {"b": "q"}]


def test_encode_inverts_decode() -> None:
    space = SearchSpace.from_input(
        [{"a": ss.range(0.0, 1.0, 0.1), "n": {"c": ss.choice([1, "1", 1.5])}}, {"f": ss.literal("-x", 0.5)}]
    )
    rng = random.Random(3)
    for _ in range(50):
        genome = space.sample_genome(rng)
        assert space.encode(space.decode(genome)) == genome


def test_keys_with_special_characters_survive_json_round_trip(tmp_path: Path) -> None:
    original = {"x_1": ss.range(0, 4, 2, knockout_prob=0.2, seed_low=2, seed_high=4),
                "ünï code": {"a b/c": ss.choice([1, "two"]), "lit": ss.literal(3.5)}}
    space = SearchSpace.from_input(original)
    path = tmp_path / "space.json"
    path.write_text(json.dumps(space.to_json()))
    again = SearchSpace.from_input(path)
    assert [p.path for p in again.params] == [p.path for p in space.params]
    assert [p.config for p in again.params] == [p.config for p in space.params]
    assert again.fingerprint() == space.fingerprint()


def test_seeded_window_and_knockout_priors_shape_initial_samples() -> None:
    space = SearchSpace.from_input({"x": ss.range(0, 1000, seed_low=100, seed_high=110),
                                    "f": ss.literal(1, knockout_prob=0.9)})
    rng = random.Random(0)
    draws = [space.sample_genome(rng, 0.9) for _ in range(4000)]
    inside = sum(100 <= g[0] <= 110 for g in draws) / len(draws)
    present = sum(g[1] != KNOCKED_OUT for g in draws) / len(draws)
    assert 0.86 < inside < 0.93
    assert 0.07 < present < 0.13
    uniform = [space.sample_genome(rng, 0.0)[0] for _ in range(4000)]
    assert sum(100 <= x <= 110 for x in uniform) / 4000 < 0.03


@pytest.mark.parametrize(
    ("space", "match"),
    [
        ({}, "non-empty dict"),
        ({"x": 5}, r"'x' is 5 \(int\); expected a builder"),
        ({"x": {}}, "expected a builder"),
        ({1: ss.range(0, 2)}, "keys must be strings"),
        ([], "empty list"),
        (42, "not usable"),
    ],
)
def test_malformed_spaces_are_rejected(space, match: str) -> None:
    with pytest.raises(SearchSpaceError, match=match):
        SearchSpace.from_input(space)


def test_provider_and_missing_file(tmp_path: Path) -> None:
    class Provider:
        def retrieve(self) -> dict:
            return {"k": ss.choice([1, 2])}

    assert SearchSpace.from_input(Provider()).decode((1,)) == {"k": 2}
    with pytest.raises(SearchSpaceError, match="does not exist"):
        SearchSpace.from_input(tmp_path / "missing.json")
    binary = tmp_path / "ptxas.bin"
    binary.write_bytes(b"\x00\xff\x10")
    with pytest.raises(SearchSpaceError, match="Protected"):
        SearchSpace.from_input(binary)
