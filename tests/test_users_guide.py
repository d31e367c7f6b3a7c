"""The users' guide examples run as written, and every way of naming a worker runs a search."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import pytest
from objectives import quadratic

import compileiq.search_spaces.base as ss
from compileiq import EngineConfig, Search, SearchConfiguration, WorkerTypes
from compileiq.worker import MultiProcessWorker, SequentialWorker

GUIDE = Path(__file__).parents[1] / "examples" / "workers_guide"


def run_example(name: str, *args: str, cwd: Path) -> str:
    env_home = {"HOME": str(cwd)}  # run folders go under $HOME/.cache/compileiq
    import os

    out = subprocess.run([sys.executable, str(GUIDE / name), *args], capture_output=True, text=True,
                         cwd=cwd, env={**os.environ, **env_home}, timeout=120)
    assert out.returncode == 0, out.stderr
    return out.stdout


def test_guide_multiprocess_worker_with_15_processes(tmp_path: Path) -> None:
    out = run_example("multiprocess_worker.py", cwd=tmp_path)
    assert "rows 16" in out
    best = ast.literal_eval(out.split("best ", 1)[1].strip())
    assert best["tile"] % 16 == 0 and best["unroll"] in (1, 2, 4, 8)


@pytest.mark.parametrize("mode", ["plain", "normalized"])
def test_guide_custom_worker_as_class_and_instance(tmp_path: Path, mode: str) -> None:
    out = run_example("custom_worker.py", mode, cwd=tmp_path)
    lines = dict(line.split(" ", 1) for line in out.splitlines())
    assert int(lines["class"].split()[1]) >= 16 + (mode == "normalized")
    assert int(lines["instance"].split()[1]) >= 16 + (mode == "normalized")
    best = ast.literal_eval(lines["best"])
    assert best["tile"] != 112 and best["unroll"] in (1, 2, 4, 8)  # tile 112 always fails


@pytest.mark.parametrize(
    "worker_type",
    ["sequential", "multiprocess", "native", "default", WorkerTypes.NATIVE, WorkerTypes.DEFAULT,
     WorkerTypes.SEQUENTIAL, SequentialWorker, MultiProcessWorker, "instance"],
    ids=str,
)
def test_every_way_of_naming_a_worker_runs_a_search(cache_dir: Path, worker_type) -> None:
    if worker_type == "instance":
        worker_type = SequentialWorker(cache_folder=cache_dir, normalize=True)
    search = Search(objective_function=quadratic, search_space={"x": ss.range(-30, 30), "y": ss.choice([1, 2])},
                    search_config=SearchConfiguration(generations=2, pool_size=6, normalize=True),
                    worker_type=worker_type, cache_folder=cache_dir, engine=EngineConfig("random", {"seed": 4}))
    df = search.start(num_workers=2 if search.worker.respects_num_workers else None).get_results()
    assert len(df) == 13 and df["is_baseline"].sum() == 1
    baseline = df[df["is_baseline"]].iloc[0]
    assert baseline["params"] == {} and baseline["norm_score_1"] == 1.0 and baseline["generation"] == 0
    assert df["param_id"].iloc[0] == "baseline"
    expected = [quadratic(p) / quadratic({}) for p in df["params"]]
    assert df["norm_score_1"].tolist() == pytest.approx(expected)


def test_bad_worker_types_are_named(cache_dir: Path) -> None:
    for bad, match in ((42, "not usable"), (dict, "not a subclass of compileiq.worker.BaseWorker")):
        with pytest.raises(TypeError, match=match):
            Search(objective_function=quadratic, search_space={"x": ss.range(0, 3)},
                   search_config={"generations": 1}, worker_type=bad, cache_folder=cache_dir)
