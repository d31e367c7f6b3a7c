"""No recursive searches, ever: an unguarded script re-imported by a worker process, or by
`compileiq resume --objective`, stops at once with an error that names the missing guard.

Every run here happens inside `bound_processes.py` (a pids cgroup when writable, else a watchdog
subreaper that kills every process past 200 or 90 s), as a runaway once took a machine down.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Any

import pytest

pytestmark = pytest.mark.skipif(not sys.platform.startswith("linux"), reason="the bound needs Linux /proc")

BOUND = Path(__file__).with_name("bound_processes.py")
GUARD = 'if __name__ == "__main__":'
CASES = [(w, m) for w in ("multiprocess", "isolated") for m in ("fork", "forkserver", "spawn")]
WORKS_UNGUARDED = {("multiprocess", "fork"), ("multiprocess", "forkserver"), ("isolated", "fork")}
"""Where an unguarded script can work, it does: fork children and compileiq's own fork server
never run the script again (the objective travels by value)."""

SEARCH = """\
search = Search(objective_function=objective, search_space={"x": ss.range(0, 100, 1)},
                search_config=SearchConfiguration(generations=2, pool_size=6),
                worker_type=os.environ["TUNE_WORKER"], cache_folder=os.environ["TUNE_CACHE"],
                disable_progress_bar=True)
result = search.start(num_workers=2)
print("DONE", len(result))
"""
HEAD = """\
import os
import compileiq.search_spaces.base as ss
from compileiq import Search, SearchConfiguration


def objective(config):
    return float(config["x"])


"""


def write_script(folder: Path, guarded: bool) -> Path:
    body = GUARD + "\n" + textwrap.indent(SEARCH, "    ") if guarded else SEARCH
    script = folder / "tune.py"
    script.write_text(HEAD + body)
    return script


def bounded(command: list[str], cwd: Path, env: dict[str, str], tmp_path: Path) -> dict[str, Any]:
    out = tmp_path / f"bound-{len(list(tmp_path.glob('bound-*')))}.json"
    subprocess.run([sys.executable, str(BOUND), "--max-procs", "200", "--timeout", "90", "--out", str(out),
                    "--", *command], cwd=cwd, env=env, check=True, timeout=150)
    return json.loads(out.read_text())


def run_folders(cache: Path) -> list[Path]:
    return sorted(p for p in cache.iterdir() if p.is_dir()) if cache.is_dir() else []


def environment(tmp_path: Path, worker: str, mode: str) -> dict[str, str]:
    return {**os.environ, "HOME": str(tmp_path), "TUNE_WORKER": worker, "TUNE_CACHE": str(tmp_path / "cache"),
            "CIQ_PROCESS_MODE": mode, "PYTHONPATH": ""}


def assert_stopped_by_guard(report: dict[str, Any], where: str) -> None:
    assert report["killed_by_bound"] is None, f"{where}: runaway stopped by the bound: {report}"
    assert report["returncode"] not in (0, None), f"{where}: expected a clear failure:\n{report['stderr']}"
    named = "RecursiveSearchError" in report["stderr"] or report["stderr"].startswith("compileiq resume: ")
    assert named and GUARD in report["stderr"], report["stderr"]
    assert "tune.py" in report["stderr"], "the error names the script"
    assert "Fix the objective" not in report["stderr"]


@pytest.mark.parametrize(("worker", "mode"), CASES, ids=[f"{w}-{m}" for w, m in CASES])
def test_unguarded_script(worker: str, mode: str, tmp_path: Path) -> None:
    write_script(tmp_path, guarded=False)
    report = bounded([sys.executable, "tune.py"], tmp_path, environment(tmp_path, worker, mode), tmp_path)
    where = f"unguarded script, {worker} {mode}"
    assert report["elapsed_s"] < 60, f"{where}: took {report['elapsed_s']} s"
    assert not report["left"], f"{where}: processes left: {report['left']}"
    folders = run_folders(tmp_path / "cache")
    if (worker, mode) in WORKS_UNGUARDED:
        assert report["returncode"] == 0 and "DONE 12" in report["stdout"], f"{where}:\n{report['stderr']}"
        assert len(folders) == 1, folders
    else:
        assert_stopped_by_guard(report, where)
        assert len(folders) <= 1, f"{where}: stray run folders {folders}"


@pytest.mark.parametrize("mode", ["forkserver", "spawn"])
@pytest.mark.parametrize("worker", ["multiprocess", "isolated"])
def test_guarded_script_works(worker: str, mode: str, tmp_path: Path) -> None:
    write_script(tmp_path, guarded=True)
    report = bounded([sys.executable, "tune.py"], tmp_path, environment(tmp_path, worker, mode), tmp_path)
    assert report["returncode"] == 0 and "DONE 12" in report["stdout"], report["stderr"]
    assert len(run_folders(tmp_path / "cache")) == 1 and not report["left"]


@pytest.fixture(scope="module")
def unguarded_run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """An unguarded tune.py and one run folder of it (made with fork, where it works)."""
    folder = tmp_path_factory.mktemp("unguarded")
    write_script(folder, guarded=False)
    report = bounded([sys.executable, "tune.py"], folder, environment(folder, "multiprocess", "fork"), folder)
    assert report["returncode"] == 0, report["stderr"]
    return folder


@pytest.mark.parametrize(("worker", "mode"), CASES, ids=[f"{w}-{m}" for w, m in CASES])
def test_cli_resume_of_unguarded_script(worker: str, mode: str, unguarded_run: Path, tmp_path: Path) -> None:
    cache = unguarded_run / "cache"
    [run] = run_folders(cache)
    env = {**environment(unguarded_run, worker, mode), "TUNE_CACHE": str(cache)}
    report = bounded([sys.executable, "-m", "compileiq", "resume", str(run), "--objective", "tune:objective",
                      "--worker", worker, "--num-workers", "2"], unguarded_run, env, tmp_path)
    where = f"compileiq resume, {worker} {mode}"
    assert_stopped_by_guard(report, where)
    assert report["returncode"] == 2 and "Traceback" not in report["stderr"], report["stderr"]
    assert report["elapsed_s"] < 60 and not report["left"], report
    assert run_folders(cache) == [run], "no second run folder"


def test_objective_that_starts_a_search_stops_the_search(tmp_path: Path) -> None:
    """A Search started from inside an evaluation (a process compileiq started) is refused, and
    the parent stops at once with the child's words instead of scoring it INVALID."""
    (tmp_path / "nested.py").write_text(HEAD.replace("def objective(config):\n    return float(config[\"x\"])",
                                                     "def objective(config):\n" + textwrap.indent(SEARCH, "    ")
                                                     + "    return 1.0") + GUARD + "\n" + textwrap.indent(
        SEARCH.replace("objective_function=objective", "objective_function=objective"), "    "))
    report = bounded([sys.executable, "nested.py"], tmp_path, environment(tmp_path, "multiprocess", "forkserver"),
                     tmp_path)
    assert_stopped_by_guard({**report, "stderr": report["stderr"].replace("nested.py", "tune.py")}, "nested")
    assert "process compileiq started" in report["stderr"]
    assert len(run_folders(tmp_path / "cache")) == 1 and not report["left"]
