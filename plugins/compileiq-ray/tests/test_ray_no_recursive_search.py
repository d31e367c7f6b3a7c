"""No recursive searches on Ray: a Ray worker that imports an unguarded script to load the
objective refuses to start a Search, and the driver stops at once with that message.

Runs inside the process bound of the core tests (`tests/bound_processes.py`: a pids cgroup when
writable, else a watchdog subreaper), on a loopback-only Ray the worker starts and stops itself.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = [pytest.mark.slow, pytest.mark.skipif(not sys.platform.startswith("linux"), reason="needs /proc")]

BOUND = Path(__file__).parents[3] / "tests" / "bound_processes.py"
UNGUARDED = """\
import os
import compileiq.search_spaces.base as ss
from compileiq import Search, SearchConfiguration


def objective(config):
    return float(config["x"])


search = Search(objective_function=objective, search_space={"x": ss.range(0, 100, 1)},
                search_config=SearchConfiguration(generations=2, pool_size=6),
                worker_type="ray", cache_folder=os.environ["TUNE_CACHE"], disable_progress_bar=True)
print("DONE", len(search.start(num_workers=2)))
"""


def test_unguarded_module_imported_by_ray_workers_stops_the_search(tmp_path: Path) -> None:
    # driver.py imports tune.py, whose objective Ray then sends by reference: every Ray worker
    # imports tune.py, whose top level starts a search again.
    (tmp_path / "tune.py").write_text(UNGUARDED)
    (tmp_path / "driver.py").write_text("import tune\n")
    env = {**os.environ, "HOME": str(tmp_path), "TUNE_CACHE": str(tmp_path / "cache"), "PYTHONPATH": str(tmp_path),
           "RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER": "0", "RAY_USAGE_STATS_ENABLED": "0"}
    env.pop("RAY_ADDRESS", None)
    out = tmp_path / "bound.json"
    subprocess.run([sys.executable, str(BOUND), "--max-procs", "200", "--timeout", "180", "--grace", "15",
                    "--out", str(out), "--", sys.executable, "driver.py"], cwd=tmp_path, env=env, check=True,
                   timeout=300)
    report = json.loads(out.read_text())
    assert report["killed_by_bound"] is None, report
    assert report["returncode"] != 0 and "RecursiveSearchError" in report["stderr"], report["stderr"][-3000:]
    assert 'if __name__ == "__main__":' in report["stderr"] and "tune.py" in report["stderr"]
    assert not report["left"], f"processes left: {report['left']}"
    assert len([p for p in (tmp_path / "cache").iterdir() if p.is_dir()]) == 1, "no stray run folders"
