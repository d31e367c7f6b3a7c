"""Every distribution ships `py.typed` in its wheel, so type checkers read its annotations."""

from __future__ import annotations

import shutil
import subprocess
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).parents[1]
UV = shutil.which("uv")
DISTRIBUTIONS = {
    "compileiq_core": "compileiq",
    **{f"plugins/{p.name}": p.name.replace("-", "_") for p in sorted((ROOT / "plugins").iterdir())
       if (p / "pyproject.toml").exists()},
    "examples/threads_worker": "compileiq_threads",
}


@pytest.mark.parametrize(("source", "package"), sorted(DISTRIBUTIONS.items()))
def test_package_has_py_typed(source: str, package: str) -> None:
    assert (ROOT / source / "src" / package / "py.typed").is_file(), f"{source}: add src/{package}/py.typed"


@pytest.mark.slow
@pytest.mark.skipif(UV is None, reason="needs uv (installed by .ci/run)")
def test_every_wheel_ships_py_typed(tmp_path: Path) -> None:
    for source, package in DISTRIBUTIONS.items():
        out = subprocess.run([UV, "build", "--wheel", "--out-dir", str(tmp_path / source), str(ROOT / source)],
                             capture_output=True, text=True, timeout=600)
        assert out.returncode == 0, out.stderr
        wheel = next((tmp_path / source).glob("*.whl"))
        with zipfile.ZipFile(wheel) as archive:
            assert f"{package}/py.typed" in archive.namelist(), f"{wheel.name} does not ship {package}/py.typed"
