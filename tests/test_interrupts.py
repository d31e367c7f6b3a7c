"""Ctrl-C and SIGTERM in the driver: children end promptly, finished results stay, nothing is left.

SIGKILL of the driver (nothing can run in it) is covered too: the children die with it (death
signal, closed pipes) and the results written so far stay."""

from __future__ import annotations

import csv
import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from compileiq.testing.processes import alive, descendants

DRIVER = textwrap.dedent("""
    import asyncio, os, sys, time
    import compileiq.search_spaces.base as ss
    from compileiq.ciq import Search
    from compileiq.types import SearchConfiguration

    def objective(config):
        open(os.path.join(os.environ["PIDDIR"], str(os.getpid())), "w").close()
        time.sleep(0.25)
        return float(config["x"])

    async def async_objective(config):
        await asyncio.sleep(0.25)
        return float(config["x"])

    if __name__ == "__main__":
        worker, csv_path, cache = sys.argv[1:4]
        search = Search(
            objective_function=async_objective if worker == "async" else objective,
            search_space={"x": ss.range(0, 100000)},
            search_config=SearchConfiguration(generations=200, pool_size=6,
                                              scheduling=os.environ.get("SCHEDULING", "generational")),
            worker_type=worker, engine="random", dump_results=csv_path, cache_folder=cache,
        )
        try:
            search.start(num_workers=2)
        except KeyboardInterrupt:
            print("interrupted", flush=True)
            sys.exit(130)
""")


def _rows(path: Path) -> int:
    try:
        with path.open() as handle:
            return sum(1 for _ in csv.DictReader(handle))
    except (OSError, csv.Error):
        return 0


@pytest.mark.slow
@pytest.mark.parametrize(
    "worker, sig, code",
    [
        ("multiprocess", signal.SIGINT, 130),
        ("multiprocess", signal.SIGTERM, 143),
        ("isolated", signal.SIGINT, 130),
        ("isolated", signal.SIGTERM, 143),
        ("async", signal.SIGINT, 130),
        ("multiprocess", signal.SIGKILL, -9),
        ("isolated", signal.SIGKILL, -9),
        ("multiprocess/asynchronous", signal.SIGINT, 130),
        ("multiprocess/asynchronous", signal.SIGTERM, 143),
        ("async/asynchronous", signal.SIGINT, 130),
        ("multiprocess/asynchronous", signal.SIGKILL, -9),
        ("isolated/asynchronous", signal.SIGINT, 130),
        ("isolated/asynchronous", signal.SIGKILL, -9),
    ],
    ids=["multiprocess-SIGINT", "multiprocess-SIGTERM", "isolated-SIGINT", "isolated-SIGTERM", "async-SIGINT",
         "multiprocess-SIGKILL", "isolated-SIGKILL", "multiprocess-asynchronous-SIGINT",
         "multiprocess-asynchronous-SIGTERM", "async-asynchronous-SIGINT", "multiprocess-asynchronous-SIGKILL",
         "isolated-asynchronous-SIGINT", "isolated-asynchronous-SIGKILL"],
)
def test_signal_in_driver_ends_everything(tmp_path: Path, worker: str, sig: signal.Signals, code: int) -> None:
    worker, _, scheduling = worker.partition("/")
    script = tmp_path / "driver.py"
    script.write_text(DRIVER)
    piddir = tmp_path / "pids"
    piddir.mkdir()
    results = tmp_path / "results.csv"
    driver = subprocess.Popen(
        [sys.executable, str(script), worker, str(results), str(tmp_path / "cache")],
        env={**os.environ, "PIDDIR": str(piddir), "SCHEDULING": scheduling or "generational"},
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        start_new_session=True,
    )
    try:
        deadline = time.monotonic() + 60
        while _rows(results) < 6 and time.monotonic() < deadline and driver.poll() is None:
            time.sleep(0.05)
        assert _rows(results) >= 6, "the first generation never finished"
        time.sleep(0.1)  # let the next batch start, so there are busy children to interrupt
        family = set(descendants(driver.pid, include_helpers=True))
        os.kill(driver.pid, sig)
        sent = time.monotonic()
        _, err = driver.communicate(timeout=10)
        took = time.monotonic() - sent
    finally:
        if driver.poll() is None:
            driver.kill()
            driver.wait()
    assert driver.returncode == code, err[-2000:]
    assert took < 3.0, f"the driver took {took:.1f} s to stop"
    assert _rows(results) >= 6, "finished results were lost"
    started = family | {int(p.name) for p in piddir.iterdir()} - {driver.pid}
    deadline = time.monotonic() + 2
    while any(alive(p) for p in started) and time.monotonic() < deadline:
        time.sleep(0.02)
    assert not [p for p in started if alive(p)], "processes outlived the interrupted driver"
