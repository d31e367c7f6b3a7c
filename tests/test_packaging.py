"""The built wheels (not editable checkouts) install into a fresh environment and work."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).parents[1]
UV = shutil.which("uv")
SEARCH = """
import compileiq.search_spaces.base as ss
from compileiq import EngineConfig, Search, SearchConfiguration

def objective(config):
    return (config["x"] - 7) ** 2

if __name__ == "__main__":
    search = Search(objective_function=objective, search_space={"x": ss.range(0, 50)},
                    search_config=SearchConfiguration(generations=2, pool_size=6),
                    worker_type="sequential", engine=EngineConfig("random", {"seed": 1}))
    print(len(search.start().get_results()))
"""

pytestmark = [pytest.mark.slow, pytest.mark.skipif(UV is None, reason="needs uv (installed by .ci/run)")]


def run(*args: str, cwd: Path | None = None, env: dict[str, str] | None = None) -> str:
    out = subprocess.run(list(args), capture_output=True, text=True, cwd=cwd, timeout=600,
                         env=None if env is None else {**os.environ, **env})
    assert out.returncode == 0, f"{args}:\n{out.stdout}\n{out.stderr}"
    return out.stdout


@pytest.fixture(scope="module")
def wheels(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("wheels")
    for source in ("compileiq_core", "plugins/compileiq-sequential", "plugins/compileiq-multiprocess"):
        run(UV, "build", "--wheel", "--out-dir", str(out), str(ROOT / source))
    return out


def test_wheels_install_run_a_search_and_list_workers(wheels: Path, tmp_path: Path) -> None:
    venv = tmp_path / "venv"
    run(UV, "venv", "--python", sys.executable, str(venv))
    python = str(venv / "bin" / "python")
    core = next(wheels.glob("compileiq_core-*.whl"))
    sequential = next(wheels.glob("compileiq_sequential-*.whl"))
    run(UV, "pip", "install", "--python", python, str(core), str(sequential))
    location = run(python, "-c", "import compileiq, os; print(os.path.dirname(compileiq.__file__))")
    assert "site-packages" in location and str(ROOT) not in location  # the wheel, not the checkout
    script = tmp_path / "search.py"
    script.write_text(SEARCH)
    (tmp_path / "home").mkdir()
    assert run(python, str(script), cwd=tmp_path, env={"HOME": str(tmp_path / "home")}).strip() == "12"
    listed = {r["name"]: r for r in json.loads(run(python, "-m", "compileiq", "workers", "--json"))}
    assert set(listed) == {"sequential"} and listed["sequential"]["version"] == "1.0.0"

    run(UV, "pip", "install", "--python", python, str(next(wheels.glob("compileiq_multiprocess-*.whl"))))
    listed = {r["name"]: r["status"] for r in json.loads(run(python, "-m", "compileiq", "workers", "--json"))}
    assert listed == {"multiprocess": "ok", "sequential": "ok"}
