"""An objective's output (stdout, stderr, its subprocesses') goes to the run folder's
`logs/<param_id>.txt` in the process workers: capped, tail kept, never blocking the search."""

from __future__ import annotations

import json
import os
import time
from pathlib import Path
from typing import Any

import pytest
from objectives import floods_output, spool_probe

import compileiq.search_spaces.base as ss
from compileiq import Search, SearchConfiguration
from compileiq.processes import (
    LOG_LIMIT_BYTES,
    capture_output,
    log_metadata,
    log_path,
    remove_spool,
    spool_path,
    trim_log,
)
from compileiq.registry import resolve_worker
from compileiq.testing import leftover_processes
from compileiq.testing.processes import descendants

WORKERS = ["multiprocess", "isolated"]


def run_worker(name: str, folder: Path, pool: list[dict[str, Any]], function: Any = floods_output,
               num_workers: int = 2, **kwargs: Any) -> dict[Any, Any]:
    before = set(descendants())
    worker = resolve_worker(name).create(cache_folder=folder, normalize=False, tracker=None)
    worker.setup()
    try:
        scores = worker.run(function=function, params_pool=pool, params_ids=list(range(len(pool))),
                            num_workers=num_workers, **kwargs)
    finally:
        worker.close()
    assert not leftover_processes(before)
    assert not spools(folder), "every process's output spool is gone once the worker is closed"
    return {s.param_id: s for s in scores}


def spools(folder: Path) -> list[str]:
    logs = folder / "logs"
    return sorted(p.name for p in logs.glob(".running-*")) if logs.exists() else []


def logs_in(folder: Path) -> list[str]:
    logs = folder / "logs"
    return sorted(p.name for p in logs.iterdir()) if logs.exists() else []


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
    # 6 MB, over the 1 MiB cap, printed well inside the timeout even on a loaded machine (30 MB
    # through a subprocess once took longer than 8 s there, and the last line was never printed)
    scores = run_worker(name, tmp_path, [{"x": 7, "mb": 6, "hang": True}], task_timeout=10)
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
    assert not spools(search.cache_folder), "no process's output spool is left after the search"
    failed = df[df["failure_reason"].notna()]
    assert len(failed) > 0
    pytest.importorskip("matplotlib")
    from compileiq.report import write_report

    page = write_report(search.cache_folder).read_text()
    assert "Output of failed evaluations" in page
    assert f"href='logs/{failed['param_id'].iloc[0]}.txt'" in page


@pytest.mark.parametrize("name", WORKERS)
def test_quiet_candidates_leave_no_file(name: str, tmp_path: Path) -> None:
    scores = run_worker(name, tmp_path, [{"x": i} for i in range(8)], function=spool_probe)
    assert [s.score for s in scores.values()] == [1.0] * 8, "each ran with its output in its process's spool"
    assert all("log" not in s.metadata_dict for s in scores.values())
    assert logs_in(tmp_path) == [], "quiet candidates leave nothing in logs/, not even a spool"


@pytest.mark.parametrize("name", WORKERS)
def test_consecutive_candidates_output_never_leaks(name: str, tmp_path: Path) -> None:
    pool = [{"say": f"out of {i}", "err": f"err of {i}"} if i % 3 else {} for i in range(9)]
    scores = run_worker(name, tmp_path, pool, function=spool_probe, num_workers=1)
    assert all(s.score == 1.0 for s in scores.values())
    for i in range(9):
        if i % 3:
            assert scores[i].metadata_dict["log"] == f"logs/{i}.txt"
            assert log_path(tmp_path, i).read_text().splitlines() == [f"out of {i}", f"err of {i}"]
        else:
            assert "log" not in scores[i].metadata_dict and not log_path(tmp_path, i).exists()
    assert logs_in(tmp_path) == sorted(f"{i}.txt" for i in range(9) if i % 3)


@pytest.mark.parametrize("name", WORKERS)
@pytest.mark.parametrize("how", ["timeout", "crash"])
def test_a_candidate_killed_while_printing_gets_its_log(name: str, how: str, tmp_path: Path) -> None:
    dies = {"sleep": 600} if how == "timeout" else {"die": True}
    pool = [{"say": "said before 0 hung"}, {"say": "said by 1 before it died", "err": "its stderr", **dies},
            {}, {"say": "said by 3"}]
    scores = run_worker(name, tmp_path, pool, function=spool_probe, num_workers=1, task_timeout=5)
    meta = scores[1].metadata_dict
    assert meta["failure"] == how and meta["log"] == "logs/1.txt", meta
    assert log_path(tmp_path, 1).read_text().splitlines() == ["said by 1 before it died", "its stderr"]
    assert [scores[i].score for i in (0, 2, 3)] == [1.0, 1.0, 1.0]
    assert log_path(tmp_path, 3).read_text() == "said by 3\n"
    assert logs_in(tmp_path) == ["0.txt", "1.txt", "3.txt"]


def test_log_metadata_moves_a_dead_process_spool_into_the_log(tmp_path: Path) -> None:
    assert log_metadata(tmp_path, 5, pid=4242) == {}, "no spool and no log: no log"
    spool = spool_path(tmp_path, 4242)
    assert spool == tmp_path / "logs" / ".running-4242.txt"
    spool.parent.mkdir()
    spool.write_bytes(b"x" * 5000 + b"END\n")
    assert log_metadata(tmp_path, 5, limit=1000, pid=4242) == {"log": "logs/5.txt"}
    assert not spool.exists()
    log = log_path(tmp_path, 5).read_bytes()
    assert log.endswith(b"END\n") and len(log) <= 1100 and int(log.split(b" ")[3]) == 5004 - 1000
    assert log_metadata(tmp_path, 5, pid=4242) == {"log": "logs/5.txt"}, "a second call finds the log"
    assert log_metadata(tmp_path, 5) == {"log": "logs/5.txt"}, "without a pid: the log as it is"
    spool.write_bytes(b"")
    assert log_metadata(tmp_path, 5, pid=4242) == {}, "an empty spool: the candidate printed nothing"
    assert logs_in(tmp_path) == [], "the empty spool and the earlier evaluation's log are gone"
    spool.write_bytes(b"")
    remove_spool(tmp_path, 4242)
    remove_spool(tmp_path, 4242)
    remove_spool(None, 4242)
    assert logs_in(tmp_path) == []


def test_a_process_spool_follows_the_run_folder(tmp_path: Path) -> None:
    """One process, candidates of two runs: its spool moves to the second run's logs/; the one
    it leaves there when it ends is its parent's to remove (`remove_spool`)."""
    code = """if True:
        import os, sys
        from compileiq.processes import evaluate_captured, spool_path
        sys.path.insert(0, sys.argv[3])
        from objectives import spool_probe
        for folder in sys.argv[1:3]:
            for params in ({}, {"say": "hello"}, {}):
                score = evaluate_captured(spool_probe, params, param_id=len(params), num_objectives=1,
                                          run_folder=folder)
                assert score.score == 1.0, score
        assert not spool_path(sys.argv[1], os.getpid()).exists(), "moving on removed the first spool"
        assert spool_path(sys.argv[2], os.getpid()).stat().st_size == 0
    """
    import subprocess
    import sys

    first, second = tmp_path / "a", tmp_path / "b"
    tests = Path(__file__).parent
    done = subprocess.run([sys.executable, "-c", code, str(first), str(second), str(tests)],
                          capture_output=True, text=True, timeout=120, env={**os.environ})
    assert done.returncode == 0, done.stderr
    assert logs_in(first) == ["1.txt"] and (first / "logs" / "1.txt").read_text() == "hello\n"
    assert len(spools(second)) == 1 and logs_in(second) == sorted(["1.txt", *spools(second)])


def test_held_output_stays_on_the_spool_between_quiet_candidates_only(tmp_path: Path) -> None:
    """`evaluate_captured(hold=True)` (how a pool process runs candidates back to back) leaves
    file descriptors 1 and 2 on the spool after a quiet candidate and restores them after one that
    printed; what the process prints while held is not in the next candidate's log;
    `release_output()` gives the process its own output back."""
    code = """if True:
        import os, sys
        from compileiq.processes import evaluate_captured, release_output, spool_path
        sys.path.insert(0, sys.argv[2])
        from objectives import spool_probe
        folder = sys.argv[1]
        own = os.fstat(1).st_ino
        def on_spool():
            return os.fstat(1).st_ino == os.stat(spool_path(folder, os.getpid())).st_ino
        score = evaluate_captured(spool_probe, {}, param_id=0, num_objectives=1, run_folder=folder, hold=True)
        assert score.score == 1.0 and on_spool() and os.fstat(2).st_ino == os.fstat(1).st_ino
        print("between candidates", flush=True)
        score = evaluate_captured(spool_probe, {"say": "hello"}, param_id=1, num_objectives=1, run_folder=folder,
                                  hold=True)
        assert score.score == 1.0 and score.metadata_dict["log"] == "logs/1.txt", score
        assert os.fstat(1).st_ino == own, "after a candidate that printed, output is the process's own again"
        score = evaluate_captured(spool_probe, {}, param_id=2, num_objectives=1, run_folder=folder, hold=True)
        assert on_spool()
        score = evaluate_captured(spool_probe, {}, param_id=3, num_objectives=1, run_folder=None)
        assert score.score == 0.0 and os.fstat(1).st_ino == own, "no run folder: released first"
        score = evaluate_captured(spool_probe, {}, param_id=4, num_objectives=1, run_folder=folder, hold=True)
        assert on_spool()
        release_output()
        release_output()
        assert os.fstat(1).st_ino == own and sys.stdout is sys.__stdout__
        print("released", flush=True)
    """
    import subprocess
    import sys

    tests = Path(__file__).parent
    done = subprocess.run([sys.executable, "-c", code, str(tmp_path), str(tests)],
                          capture_output=True, text=True, timeout=120, env={**os.environ})
    assert done.returncode == 0, done.stderr
    assert (tmp_path / "logs" / "1.txt").read_text() == "hello\n", "the held process's own print is dropped"
    assert done.stdout == "released\n"
    assert logs_in(tmp_path) == sorted(["1.txt", *spools(tmp_path)])
