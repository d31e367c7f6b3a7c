"""SearchConfiguration: fields, bounds, derived sizes, retired fields, legacy files."""

from __future__ import annotations

import warnings
from pathlib import Path

import pytest

from compileiq.errors import ConfigurationError
from compileiq.types import ProblemType, SearchConfiguration


def test_defaults_and_derived_sizes() -> None:
    cfg = SearchConfiguration(generations="3")
    assert cfg.generations == 3 and cfg.problem_type is ProblemType.MIN and cfg.num_objectives == 1
    assert cfg.pool_size >= 6 and cfg.pool_size % 2 == 0
    assert SearchConfiguration(generations=1, pool_size=12).cull_size == 8
    assert SearchConfiguration(generations=1, pool_size=6).cull_size == 2
    assert SearchConfiguration(generations=1, pool_size=7).cull_size == 4


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"generations": 0}, "generations=0 is too small"),
        ({"generations": 1.5}, "not an integer"),
        ({"generations": 2, "pool_size": 5}, "pool_size=5 is too small"),
        ({"generations": 2, "problem_type": "MIN"}, "expected 'min' or 'max'"),
        ({"generations": 2, "num_objectives": 0}, "num_objectives=0"),
        ({"generations": 2, "mutate_rate": 1.0}, "strictly between 0 and 1"),
        ({"generations": 2, "pool_size": 10, "cull_size": 3}, "multiple of 2"),
        ({"generations": 2, "pool_size": 10, "cull_size": 10}, "less than pool_size"),
        ({"generations": 2, "init_with_true_random_threshold": 2}, r"in \[0, 1\]"),
    ],
)
def test_bad_values_are_named(kwargs: dict, match: str) -> None:
    with pytest.raises(ConfigurationError, match=match):
        SearchConfiguration(**kwargs)


def test_unknown_fields_are_rejected_with_a_suggestion() -> None:
    with pytest.raises(ConfigurationError, match=r"'generaitons' \(did you mean 'generations'\?\)"):
        SearchConfiguration(generations=1, generaitons=3)


def test_missing_generations_is_a_type_error() -> None:
    with pytest.raises(TypeError, match="generations"):
        SearchConfiguration()  # type: ignore[call-arg]


def test_retired_fields_warn_only_when_they_differ(recwarn: pytest.WarningsRecorder) -> None:
    SearchConfiguration(generations=2).warn_retired()
    assert not [w for w in recwarn if w.category is FutureWarning]
    with pytest.warns(FutureWarning, match="mutate_rate"):
        SearchConfiguration(generations=2, mutate_rate=0.5).warn_retired()


def test_coerce_accepts_dicts_and_rejects_other_types() -> None:
    assert SearchConfiguration.coerce({"generations": 2}).generations == 2
    with pytest.raises(ConfigurationError, match="not usable"):
        SearchConfiguration.coerce(42)  # type: ignore[arg-type]


def test_legacy_config_round_trip(tmp_path: Path) -> None:
    cfg = SearchConfiguration(generations=4, pool_size=10, problem_type="max", normalize=True)
    path = tmp_path / "main.config"
    path.write_text(cfg.to_legacy())
    assert path.read_text().startswith(";THIS FILE WAS GENERATED USING COMPILEIQ")
    assert "(seek_minimum . #f)" in path.read_text()
    assert SearchConfiguration.from_legacy(path) == cfg


def test_legacy_config_errors(tmp_path: Path) -> None:
    with pytest.raises(ConfigurationError, match="missing the extension .config"):
        SearchConfiguration.from_legacy(tmp_path / "nope.txt")
    bad = tmp_path / "bad.config"
    bad.write_text("(generations . 1+)\n")
    with pytest.raises(ConfigurationError, match="Invalid value for legacy configuration field 'generations'"):
        SearchConfiguration.from_legacy(bad)
    odd = tmp_path / "odd.config"
    odd.write_text("; comment\n(generations . 2)\n(dna_config . \"x.json\")\n")
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        assert SearchConfiguration.from_legacy(odd).generations == 2
    assert any("dna_config is going to be ignored" in str(w.message) for w in caught)
