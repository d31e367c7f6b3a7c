"""SIGKILL a running search at random points, resume it, and compare with an uninterrupted run."""

from __future__ import annotations

import json
import os
import random
import signal
import sqlite3
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

SCRIPT = textwrap.dedent(
    """
    import json, os, sys, time
    import compileiq.search_spaces.base as ss
    from compileiq import EngineConfig, INVALID_SCORE, Search, SearchConfiguration

    base, mode, log = sys.argv[1], sys.argv[2], sys.argv[3]

    def objective(config):
        with open(log, "a") as fh:
            fh.write(json.dumps([config["x"], config["y"]]) + "\\n")
        time.sleep(0.003)
        return INVALID_SCORE if config["x"] % 5 == 0 else config["x"] * 0.5 + config["y"]

    SPACE = {"x": ss.range(0, 200), "y": ss.choice([1, 2, 3])}
    worker, scheduling, num_workers = os.environ.get("KILL_RESUME_WORKER", "sequential,generational,1").split(",")
    if __name__ == "__main__":
        if mode == "fresh":
            search = Search(objective_function=objective, search_space=SPACE,
                            search_config=SearchConfiguration(generations=6, pool_size=8, scheduling=scheduling),
                            worker_type=worker, engine=EngineConfig(sys.argv[5], {"seed": int(sys.argv[4])}),
                            cache_folder=base, exit_on_failure=False, disable_progress_bar=True)
            print(search.cache_folder, flush=True)
        else:
            search = Search.resume(base, objective_function=objective, search_space=SPACE)
        search.start(num_workers=int(num_workers))
    """
)


def _run_folder(base: Path) -> Path:
    folders = [p for p in base.iterdir() if p.is_dir()]
    assert len(folders) == 1, folders
    return folders[0]


def _lines(path: Path) -> list[tuple[int, int]]:
    if not path.exists():
        return []
    return [tuple(json.loads(line)) for line in path.read_text().splitlines() if line.strip()]


def _session(script: Path, args: list[str], log: Path, kill_after: int | None, worker: str = "") -> bool:
    """Run one driver process; SIGKILL it once `log` has `kill_after` new evaluations. True if killed."""
    env = {**os.environ, "COMPILEIQ_PROGRESS": "0", "PYTHONWARNINGS": "ignore"}
    if worker:
        env["KILL_RESUME_WORKER"] = worker
    proc = subprocess.Popen([sys.executable, str(script), args[0], args[1], str(log), *args[2:]],
                            env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    deadline = time.monotonic() + 60
    try:
        while proc.poll() is None:
            if kill_after is not None and len(_lines(log)) >= kill_after:
                os.kill(proc.pid, signal.SIGKILL)
                proc.wait()
                return True
            if time.monotonic() > deadline:
                raise AssertionError("driver process did not finish within 60 s")
            time.sleep(0.0005)
    finally:
        if proc.poll() is None:
            os.kill(proc.pid, signal.SIGKILL)
            proc.wait()
    assert proc.returncode == 0, proc.stderr.read().decode() if proc.stderr else proc.returncode
    return False


def _journal(folder: Path) -> tuple[list[tuple[int, list]], list[tuple[str, tuple[int, int]]]]:
    conn = sqlite3.connect(folder / "journal.sqlite")
    asks = [(g, json.loads(gs)) for g, gs in conn.execute("SELECT generation, genomes FROM asks ORDER BY seq")]
    scores = [(pid, tuple(json.loads(p).values())) for pid, p in
              conn.execute("SELECT param_id, params FROM scores WHERE is_baseline = 0 ORDER BY seq")]
    conn.close()
    return asks, scores


def _last_batch_half_scored(folder: Path) -> bool:
    conn = sqlite3.connect(folder / "journal.sqlite")
    row = conn.execute("SELECT seq, param_ids FROM asks ORDER BY seq DESC LIMIT 1").fetchone()
    done = conn.execute("SELECT COUNT(*) FROM scores WHERE ask_seq = ? AND is_baseline = 0",
                        (row[0],)).fetchone()[0] if row else 0
    conn.close()
    return row is not None and 0 < done < len(json.loads(row[1]))


@pytest.mark.slow
@pytest.mark.parametrize("engine", ["random", "genetic"])
def test_sigkill_at_random_points_then_resume_matches_uninterrupted(tmp_path: Path, engine: str) -> None:
    script = tmp_path / "driver.py"
    script.write_text(SCRIPT)
    rng = random.Random(20261129)
    seed = 11
    reference = tmp_path / "reference"
    reference.mkdir()
    assert not _session(script, [str(reference), "fresh", str(seed), engine], tmp_path / "ref.log", None)
    ref_asks, ref_scores = _journal(_run_folder(reference))
    total = len(ref_scores)
    assert total > 48  # failures forced refill batches

    kills = mid_batch = 0
    for run in range(3):
        base = tmp_path / f"run{run}"
        base.mkdir()
        sessions: list[tuple[list[tuple[int, int]], bool]] = []
        args = [str(base), "fresh", str(seed), engine]
        for attempt in range(8):
            log = tmp_path / f"run{run}-{attempt}.log"
            kill_after = rng.randint(1, 25) if attempt < 4 else None
            killed = _session(script, args, log, kill_after)
            started = _lines(log)
            kills += killed
            if killed:
                # every evaluation finished before the in-flight one is in the journal
                _, scored = _journal(_run_folder(base))
                assert set(started[:-1]) <= {p for _, p in scored}
                mid_batch += _last_batch_half_scored(_run_folder(base))
            sessions.append((started, killed))
            args = [str(_run_folder(base)), "resume"]
            if not killed:
                break
        asks, scores = _journal(_run_folder(base))
        # the same candidates, asked in the same order, as the uninterrupted run
        assert asks == ref_asks
        assert [p for _, p in scores] and sorted(p for _, p in scores) == sorted(p for _, p in ref_scores)
        # one score per candidate, none lost
        assert len({pid for pid, _ in scores}) == len(scores) == total
        # nothing evaluated twice but what was in flight at a kill
        in_flight = {started[-1] for started, killed in sessions if killed and started}
        evaluated = [c for started, _ in sessions for c in started]
        repeated = {c for c in evaluated if evaluated.count(c) > 1}
        assert repeated <= in_flight, repeated - in_flight
        assert len(evaluated) - len(set(evaluated)) <= sum(killed for _, killed in sessions)
    assert kills >= 10
    assert mid_batch >= 3  # kills that left a batch half scored


def _asks_and_failures(folder: Path) -> tuple[list[tuple], int, int]:
    conn = sqlite3.connect(folder / "journal.sqlite")
    asks = [tuple(map(tuple, json.loads(gs))) for (gs,) in conn.execute("SELECT genomes FROM asks ORDER BY seq")]
    ok, failed = conn.execute("SELECT COALESCE(SUM(1 - failed), 0), COALESCE(SUM(failed), 0) FROM scores "
                              "WHERE is_baseline = 0").fetchone()
    conn.close()
    return asks, int(ok), int(failed)


@pytest.mark.slow
@pytest.mark.parametrize("scheduling", ["generational", "asynchronous"])
def test_multiprocess_kill_and_resume_in_both_scheduling_modes(tmp_path: Path, scheduling: str) -> None:
    """The multiprocess worker with 2 processes, SIGKILLed and resumed, in each scheduling mode.

    Generational: the journal matches an uninterrupted run ask for ask. Asynchronous: the order
    in which 2 processes finish is not reproducible between runs, so each resume checks itself:
    it replays the journal's asks and Scores in their order and raises JournalMismatchError (the
    session fails) if the engine proposes anything else; the run ends with the full budget, no
    candidate asked twice and none scored twice.
    """
    script = tmp_path / "driver.py"
    script.write_text(SCRIPT)
    worker = f"multiprocess,{scheduling},2"
    rng = random.Random(20261201)
    reference = tmp_path / "reference"
    reference.mkdir()
    assert not _session(script, [str(reference), "fresh", "11", "genetic"], tmp_path / "ref.log", None, worker)
    ref_asks, ref_scores = _journal(_run_folder(reference))
    kills = 0
    for run in range(2):
        base = tmp_path / f"run{run}"
        base.mkdir()
        args = [str(base), "fresh", "11", "genetic"]
        evaluated: list[tuple[int, int]] = []
        killed_sessions = 0
        for attempt in range(8):
            log = tmp_path / f"run{run}-{attempt}.log"
            killed = _session(script, args, log, rng.randint(2, 30) if attempt < 3 else None, worker)
            started = _lines(log)
            evaluated += started
            if killed:
                killed_sessions += 1
                _, scored = _journal(_run_folder(base))
                # everything but what was in flight at the kill is journaled: per process, the
                # evaluation it ran and at most one finished one whose Score was being recorded (a
                # freed process starts its next candidate meanwhile); not necessarily the last started
                assert len(set(started) - {p for _, p in scored}) <= 2 * 2
            args = [str(_run_folder(base)), "resume"]
            if not killed:
                break
        kills += killed_sessions
        folder = _run_folder(base)
        asks, ok, failed = _asks_and_failures(folder)
        _, scores = _journal(folder)
        assert ok == 6 * 8, "the full budget of successful evaluations"
        assert len({pid for pid, _ in scores}) == len(scores), "no candidate scored twice"
        assert len(set(asks)) == len(asks), "no candidate asked twice"
        repeated = len(evaluated) - len(set(evaluated))
        assert repeated <= 2 * 2 * killed_sessions, "only what was in flight at a kill runs again"
        if scheduling == "generational":
            assert _journal(folder)[0] == ref_asks
            assert sorted(p for _, p in scores) == sorted(p for _, p in ref_scores)
        else:
            assert all(len(a) == 1 for a in asks), "asynchronous: one candidate per ask"
    assert kills >= 3
