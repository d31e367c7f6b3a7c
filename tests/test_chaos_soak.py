"""The chaos soak, short: every fault in every process worker, the driver SIGKILLed and resumed
(tests/chaos_soak.py, run in a pids cgroup of its own); and the leak it found, on its own."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest
from fault_objectives import FAULTS

from compileiq.testing.processes import alive

TESTS = Path(__file__).parent


@pytest.mark.slow
def test_short_chaos_soak_loses_nothing_and_leaves_nothing(tmp_path: Path) -> None:
    summary_path = tmp_path / "summary.json"
    # one search per process worker; the seed is one whose candidates draw every fault kind
    done = subprocess.run(
        [sys.executable, str(TESTS / "chaos_soak.py"), "--minutes", "0", "--generations", "5", "--pool-size", "6",
         "--fault-rate", "0.5", "--task-timeout", "1.5", "--max-kills", "3", "--kill-max-s", "4",
         "--seed", "20261201", "--json", str(summary_path)],
        capture_output=True, text=True, timeout=600,
    )
    assert summary_path.exists(), done.stderr[-3000:]
    summary = json.loads(summary_path.read_text())
    assert done.returncode == 0 and summary["violations"] == [], done.stderr[-3000:]
    assert summary["searches_multiprocess"] == summary["searches_isolated"] == 1
    assert summary["evaluations_lost"] == 0
    assert set(summary["faults_injected"]) == set(FAULTS)  # every kind, through the real workers
    assert summary["driver_kills"] >= 2 and summary["resumes"] >= 2  # each search killed at least once
    assert summary["peak_processes"] <= summary["process_limit"] == 2 + 3
    assert summary["process_samples"] > 100


DRIVER = """
import sys
sys.path.insert(0, {tests!r})
import fault_objectives
import compileiq.search_spaces.base as ss
from compileiq import Search, SearchConfiguration

if __name__ == "__main__":
    search = Search(objective_function=fault_objectives.hangs_with_pidfile,
                    search_space={{"x": ss.range(0, 100), "pidfile": ss.choice([sys.argv[3]])}},
                    search_config=SearchConfiguration(generations=1, pool_size=6), worker_type=sys.argv[1],
                    cache_folder=sys.argv[2], disable_progress_bar=True)
    search.start(num_workers=1, task_timeout=300)
"""


@pytest.mark.parametrize("worker", ["multiprocess", "isolated"])
def test_a_killed_driver_leaves_no_process_even_mid_evaluation(tmp_path: Path, worker: str) -> None:
    """A forkserver child outlived a SIGKILLed driver while it ran a long evaluation (its parent,
    the fork server, stayed alive on the child's own liveness pipe): found by the soak."""
    script = tmp_path / "driver.py"
    script.write_text(textwrap.dedent(DRIVER.format(tests=str(TESTS))))
    pidfile = tmp_path / "pids"
    env = {**os.environ, "CIQ_PROCESS_MODE": "forkserver", "COMPILEIQ_PROGRESS": "0"}
    driver = subprocess.Popen([sys.executable, str(script), worker, str(tmp_path / "runs"), str(pidfile)], env=env,
                              start_new_session=True)
    try:
        deadline = time.monotonic() + 120
        while not (pidfile.exists() and pidfile.read_text().strip()):
            assert driver.poll() is None and time.monotonic() < deadline, "the evaluation never started"
            time.sleep(0.05)
        child, server = map(int, pidfile.read_text().split())
        assert server != driver.pid  # a fork server's child, not the driver's
        os.kill(driver.pid, signal.SIGKILL)
        driver.wait()
        deadline = time.monotonic() + 10
        while (alive(child) or alive(server)) and time.monotonic() < deadline:
            time.sleep(0.05)
        left = [pid for pid in (child, server) if alive(pid)]
    finally:
        if driver.poll() is None:
            os.killpg(driver.pid, signal.SIGKILL)
            driver.wait()
    for pid in left:  # never leave them behind, even when the test fails
        try:
            os.kill(pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
    assert not left, f"still running 10 s after the driver was killed: {left}"
