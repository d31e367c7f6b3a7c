"""An objective's output (stdout, stderr, its subprocesses') goes to the run folder's
`logs/<param_id>.txt` in the process workers: capped, tail kept, never blocking the search."""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

import pytest
from objectives import floods_output

import compileiq.search_spaces.base as ss
from compileiq import Search, SearchConfiguration
from compileiq.processes import LOG_LIMIT_BYTES, capture_output, log_path, trim_log
from compileiq.registry import resolve_worker
from compileiq.testing import leftover_processes
from compileiq.testing.processes import descendants

WORKERS = ["multiprocess", "isolated"]


def run_worker(name: str, folder: Path, pool: list[dict[str, Any]], **kwargs: Any) -> dict[Any, Any]:
    before = set(descendants())
    worker = resolve_worker(name).create(cache_folder=folder, normalize=False, tracker=None)
    worker.setup()
    try:
        scores = worker.run(function=floods_output, params_pool=pool, params_ids=list(range(len(pool))),
                            num_workers=2, **kwargs)
    finally:
        worker.close()
    assert not leftover_processes(before)
    return {s.param_id: s for s in scores}


@pytest.mark.parametrize("name", WORKERS)
def test_100_mb_of_output_is_captured_capped_with_its_tail(name: str, tmp_path: Path) -> None:
    pool = [{"x": 0, "mb": 100, "fail": True}, {"x": 1, "quiet": True}, {"x": 2, "mb": 0.2}]
    start = time.monotonic()
    scores = run_worker(name, tmp_path, pool)
    elapsed = time.monotonic() - start
    assert elapsed < 120, f"100 MB of output took {elapsed:.1f} s"
    flood = scores[0].metadata_dict
    assert scores[0].failed and flood["failure"] == "exception" and flood["log"] == "logs/0.txt"
    log = log_path(tmp_path, 0).read_bytes()
    assert len(log) <= LOG_LIMIT_BYTES + 200, len(log)
    assert log.startswith(b"[compileiq: the first ") and b"bytes of output were dropped" in log[:200]
    dropped = int(log.split(b" ")[3])
    # Most of the 100 MB went through the log (what a writer adds while the log is being cut
    # is lost uncounted: a few MB at most under load).
    assert 50_000_000 <= dropped <= 100_000_000, dropped
    assert b"last line of candidate 0" in log[-400:] and b"stderr tail of candidate 0" in log[-200:]
    assert b"subprocess-noise" in log, "a subprocess's output is captured too"
    assert "log" not in scores[1].metadata_dict and not log_path(tmp_path, 1).exists(), "no empty logs"
    small = log_path(tmp_path, 2).read_bytes()
    assert scores[2].score == 2.0 and small.startswith(b"compiler noise") and len(small) > 190_000


@pytest.mark.parametrize("name", WORKERS)
def test_a_killed_candidate_keeps_its_capped_log(name: str, tmp_path: Path) -> None:
    scores = run_worker(name, tmp_path, [{"x": 7, "mb": 30, "hang": True}], task_timeout=8)
    meta = scores[0].metadata_dict
    assert meta["failure"] == "timeout" and meta["log"] == "logs/0.txt"
    log = log_path(tmp_path, 0).read_bytes()
    assert len(log) <= LOG_LIMIT_BYTES + 200 and b"last line of candidate 7" in log


def test_capture_output_false_leaves_output_alone(tmp_path: Path, capfd: pytest.CaptureFixture[str]) -> None:
    scores = run_worker("isolated", tmp_path, [{"x": 3, "mb": 0.001}], capture_output=False)
    assert "log" not in scores[0].metadata_dict and not (tmp_path / "logs").exists()


def test_trim_log_counts_what_it_dropped_over_several_cuts(tmp_path: Path) -> None:
    path = tmp_path / "logs" / "a.txt"
    with capture_output(path, limit=1000):
        import os

        for _ in range(3):
            os.write(1, b"x" * 5000)
            trim_log(path, 1000)
        os.write(1, b"END\n")
    data = path.read_bytes()
    assert data.endswith(b"END\n") and len(data) <= 1000 + 100
    assert int(data.split(b" ")[3]) == 15004 - 1000


def test_search_result_and_report_point_to_the_logs(tmp_path: Path) -> None:
    search = Search(objective_function=floods_output,
                    search_space={"x": ss.range(0, 40, 1), "mb": ss.choice([0.01]), "fail": ss.choice([True, False])},
                    search_config=SearchConfiguration(generations=2, pool_size=6), worker_type="multiprocess",
                    cache_folder=tmp_path, disable_progress_bar=True, exit_on_failure=False)
    df = search.start(num_workers=2).get_results()
    logs = [json.loads(m).get("log") for m in df["metadata"]]
    assert all(logs), "every candidate printed, so every one points to its log"
    for log, x in zip(logs, df["params"].map(lambda p: p["x"])):
        assert f"last line of candidate {x}" in (search.cache_folder / log).read_text()
    failed = df[df["failure_reason"].notna()]
    assert len(failed) > 0
    pytest.importorskip("matplotlib")
    from compileiq.report import write_report

    page = write_report(search.cache_folder).read_text()
    assert "Output of failed evaluations" in page
    assert f"href='logs/{failed['param_id'].iloc[0]}.txt'" in page
