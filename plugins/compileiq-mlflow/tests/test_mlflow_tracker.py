"""The MLflow tracker against a real local MLflow store (SQLite)."""

from __future__ import annotations

import warnings
from pathlib import Path
from typing import Any

import pytest

import compileiq.search_spaces.base as ss
from compileiq import INVALID_SCORE, EngineConfig, Search, SearchConfiguration
from compileiq.types import MLflowTrackerConfig

mlflow = pytest.importorskip("mlflow")


def objective(config: dict[str, Any]) -> Any:
    return INVALID_SCORE if config["x"] % 4 == 0 else float(config["x"] * 2 + len(config["opt"]))


@pytest.mark.slow
def test_one_parent_run_and_one_nested_run_per_evaluation(tmp_path: Path) -> None:
    from mlflow.tracking import MlflowClient

    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    config = MLflowTrackerConfig(tracking_uri=uri, experiment_name="ciq-test", run_name="tune", score_names=["ms"])
    search = Search(
        objective_function=objective, search_space={"x": ss.range(0, 40), "opt": ss.choice(["O1", "O2", "O3"])},
        search_config=SearchConfiguration(generations=2, pool_size=6), worker_type="sequential",
        engine=EngineConfig("random", {"seed": 2}), cache_folder=tmp_path / "runs", exit_on_failure=False,
        tracker_config=config, disable_progress_bar=True,
    )
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        result = search.start()
    client = MlflowClient(tracking_uri=uri)
    experiment = client.get_experiment_by_name("ciq-test")
    runs = client.search_runs([experiment.experiment_id], max_results=1000)
    parents = [r for r in runs if "mlflow.parentRunId" not in r.data.tags]
    children = [r for r in runs if "mlflow.parentRunId" in r.data.tags]
    assert len(parents) == 1
    parent = parents[0]
    assert parent.info.run_name == "tune" and parent.info.status == "FINISHED"
    assert parent.data.tags["status"] == "finished"
    assert parent.data.tags["compileiq.run_id"] == search.run_id
    assert parent.data.params["search.generations"] == "2" and parent.data.params["seed"] == "2"
    assert len(children) == len(result)
    assert {c.data.tags["mlflow.parentRunId"] for c in children} == {parent.info.run_id}
    assert {c.data.tags["type"] for c in children} == {"evaluation"}
    by_id = {c.data.tags["param_id"]: c for c in children}
    for row in result.df_results.itertuples():
        child = by_id[row.param_id]
        assert child.data.params["x"] == str(row.params["x"])
        if row.score_1 == INVALID_SCORE:
            assert child.data.tags["status"] == "failed" and "ms" not in child.data.metrics
        else:
            assert child.data.metrics["ms"] == pytest.approx(row.score_1)
    assert parent.data.metrics["evaluations"] == len(result)
    assert parent.data.metrics["best_ms"] == pytest.approx(result.get_best_result()["score_1"])


def test_tracker_type_comes_from_the_plugin() -> None:
    from compileiq.tracker import MLflowTracker, tracker_class
    from compileiq_mlflow import MLflowTracker as Plugin

    assert MLflowTracker is Plugin and tracker_class("mlflow") is Plugin


def test_flatten_params_forms() -> None:
    from compileiq_mlflow import flatten_params

    assert flatten_params({"a": 1, "b": {"c": "x"}}) == {"a": "1", "b.c": "x"}
    assert flatten_params("path/to.bin") == {"config_path": "path/to.bin"}
    assert flatten_params([{"a": 1}, {"a": 2}]) == {"config_0.a": "1", "config_1.a": "2"}


def test_listed_by_compileiq_plugins_with_its_hooks() -> None:
    import json
    import subprocess
    import sys
    from importlib.metadata import version

    out = subprocess.run([sys.executable, "-m", "compileiq", "plugins", "--json"], capture_output=True, text=True,
                         timeout=120, check=False)
    rows = {row["distribution"]: row for row in json.loads(out.stdout)}
    mlflow_row = rows["compileiq-mlflow"]
    assert mlflow_row["status"] == "ok", mlflow_row
    assert mlflow_row["hooks"] == ["compileiq_register_trackers"] and mlflow_row["hook_plugins"] == ["mlflow"]
    assert mlflow_row["trackers"] == ["mlflow"]
    assert mlflow_row["version"] == version("compileiq-mlflow")


@pytest.mark.parametrize(("variable", "value", "why"), [
    ("COMPILEIQ_DISABLED_PLUGINS", "mlflow", "disabled by COMPILEIQ_DISABLED_PLUGINS"),
    ("COMPILEIQ_ENABLED_PLUGINS", "something-else", "disabled: not in COMPILEIQ_ENABLED_PLUGINS"),
])
def test_a_switched_off_plugin_is_named_as_such(monkeypatch: pytest.MonkeyPatch, variable: str, value: str,
                                                  why: str) -> None:
    from compileiq import registry
    from compileiq.errors import UnknownTrackerError
    from compileiq.plugins import reset_plugin_manager
    from compileiq.tracker import tracker_class

    monkeypatch.setenv(variable, value)
    reset_plugin_manager()
    try:
        with pytest.raises(UnknownTrackerError, match=f"comes from compileiq-mlflow, which is installed.*{why}"):
            tracker_class("mlflow")
    finally:
        monkeypatch.delenv(variable)
        reset_plugin_manager()
    assert registry.resolve_tracker("mlflow").__name__ == "MLflowTracker"
