"""Through a whole Search, each failure kind warns once, in upstream's words, and the search goes on."""

from __future__ import annotations

import time
import warnings
from pathlib import Path

import compileiq.search_spaces.base as ss
from compileiq.ciq import Search
from compileiq.engines.base import EngineConfig
from compileiq.types import SearchConfiguration


def hangs_below_30(config: dict) -> float:
    if config["x"] < 30:
        time.sleep(30)
    return float(config["x"])


def test_timeouts_warn_once_in_upstreams_words(tmp_path: Path) -> None:
    search = Search(
        objective_function=hangs_below_30, search_space={"x": ss.range(0, 100)},
        search_config=SearchConfiguration(generations=1, pool_size=6), worker_type="multiprocess",
        engine=EngineConfig("random", {"seed": 3}), cache_folder=tmp_path,
    )
    start = time.monotonic()
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        result = search.start(num_workers=6, task_timeout=0.5)
    assert time.monotonic() - start < 10
    frame = result.get_results()
    hung = frame[frame["params"].map(lambda p: p["x"] < 30)]
    done = frame[frame["params"].map(lambda p: p["x"] >= 30)]
    assert len(hung) >= 1 and len(done) >= 1, "seed 3 must give both kinds of candidate"
    assert (hung["score_1"] == "*").all() and (done["score_1"] != "*").all()
    timeouts = [w for w in caught if "Objective function timed out after 0.5 seconds" in str(w.message)]
    assert len(timeouts) == 1, [str(w.message) for w in caught]
