"""An objective that cannot travel by value (it uses an unpicklable module-level object, like
upstream's XGBoost example with its module-level `xgb.DMatrix`) runs all the same when its script
is guarded: worker processes run the script, as the standard library's spawn does, and build
their own copy. An unguarded one is refused there, not multiplied.

Each run happens inside `bound_processes.py` (pids cgroup or watchdog), like the runaway tests.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

pytestmark = pytest.mark.skipif(not sys.platform.startswith("linux"), reason="the bound needs Linux /proc")

BOUND = Path(__file__).with_name("bound_processes.py")
CASES = [(w, m) for w in ("multiprocess", "isolated") for m in ("fork", "forkserver", "spawn")]

SCRIPT = """\
import ctypes
import json
import os

import compileiq.search_spaces.base as ss
from compileiq import Search, SearchConfiguration

# Built at import, like `dtrain = xgb.DMatrix(...)`: a ctypes pointer cannot be pickled.
DATA = ctypes.pointer(ctypes.c_double(2.5))


def objective(config):
    return abs(config["x"] - DATA.contents.value)


{search}"""
SEARCH = """\
search = Search(objective_function=objective, search_space={"x": ss.range(0, 40, 1)},
                search_config=SearchConfiguration(generations=2, pool_size=6),
                worker_type=os.environ["TUNE_WORKER"], cache_folder=os.environ["TUNE_CACHE"],
                disable_progress_bar=True)
result = search.start(num_workers=2)
rows = result.get_results()
print("DONE", len(rows), json.dumps([[p["x"], s] for p, s in zip(rows["params"], rows["score_1"])]))
"""


def run_script(tmp_path: Path, worker: str, mode: str, guarded: bool) -> dict[str, Any]:
    search = ('if __name__ == "__main__":\n' + "".join(f"    {line}\n" for line in SEARCH.splitlines())
              if guarded else SEARCH)
    (tmp_path / "xgb_like.py").write_text(SCRIPT.format(search=search))
    env = {**os.environ, "HOME": str(tmp_path), "TUNE_WORKER": worker, "TUNE_CACHE": str(tmp_path / "cache"),
           "CIQ_PROCESS_MODE": mode}
    out = tmp_path / "bound.json"
    subprocess.run([sys.executable, str(BOUND), "--max-procs", "200", "--timeout", "90", "--out", str(out), "--",
                    sys.executable, "xgb_like.py"], cwd=tmp_path, env=env, check=True, timeout=150)
    return json.loads(out.read_text())


@pytest.mark.parametrize(("worker", "mode"), CASES, ids=[f"{w}-{m}" for w, m in CASES])
def test_guarded_script_with_an_unpicklable_global_runs(worker: str, mode: str, tmp_path: Path) -> None:
    report = run_script(tmp_path, worker, mode, guarded=True)
    assert report["returncode"] == 0, report["stderr"][-3000:]
    count, rows = report["stdout"].split("DONE", 1)[1].split(maxsplit=1)
    pairs = json.loads(rows)
    assert count == "12" and all(float(score) == abs(x - 2.5) for x, score in pairs), report["stdout"]
    assert not report["left"] and report["killed_by_bound"] is None


@pytest.mark.parametrize("worker", ["multiprocess", "isolated"])
def test_unguarded_script_with_an_unpicklable_global_is_refused(worker: str, tmp_path: Path) -> None:
    report = run_script(tmp_path, worker, "forkserver", guarded=False)
    assert report["killed_by_bound"] is None and not report["left"], report
    assert report["returncode"] != 0 and "RecursiveSearchError" in report["stderr"], report["stderr"][-3000:]
    assert 'if __name__ == "__main__":' in report["stderr"] and "xgb_like.py" in report["stderr"]
    assert len([p for p in (tmp_path / "cache").iterdir() if p.is_dir()]) <= 1


def test_a_nested_function_that_cannot_travel_is_still_refused_clearly() -> None:
    import threading

    from compileiq.processes import serialize_objective

    lock = threading.Lock()

    def objective(config: dict) -> float:
        with lock:
            return 1.0

    with pytest.raises(TypeError, match="cannot be pickled"):
        serialize_objective(objective)
