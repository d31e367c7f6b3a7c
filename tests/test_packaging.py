"""The built wheels (not editable checkouts) install into a fresh environment and work."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import zipfile
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


PLUGINS = sorted(p.name for p in (ROOT / "plugins").iterdir() if (p / "pyproject.toml").exists())
PUBLISHED = {"open-compileiq", "compileiq-core", *PLUGINS}
"""Every distribution of the repository, by the name it is published under."""
LOCAL_WORKERS = {"async", "isolated", "multiprocess", "sequential"}


@pytest.fixture(scope="module")
def wheels(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("wheels")
    for source in ("compileiq_core", *(f"plugins/{p}" for p in PLUGINS), "."):
        run(UV, "build", "--wheel", "--out-dir", str(out), str(ROOT / source))
    return out


def fresh_venv(path: Path) -> str:
    run(UV, "venv", "--python", sys.executable, str(path))
    return str(path / "bin" / "python")


def wheel_metadata(wheel: Path) -> tuple[str, list[str]]:
    """(Name, the wheel's license files) of a built wheel."""
    with zipfile.ZipFile(wheel) as archive:
        names = archive.namelist()
        meta = next(n for n in names if n.endswith(".dist-info/METADATA"))
        name = next(line.split(": ", 1)[1] for line in archive.read(meta).decode().splitlines()
                    if line.startswith("Name: "))
        return name, [n for n in names if "/licenses/" in n]


def test_every_distribution_builds_under_its_published_name_with_its_license(wheels: Path) -> None:
    found = {}
    for wheel in wheels.glob("*.whl"):
        name, licenses = wheel_metadata(wheel)
        found[name] = licenses
    assert set(found) == PUBLISHED and "compileiq" not in found  # `compileiq` is NVIDIA's name on the index
    for name, licenses in found.items():
        assert [n.rsplit("/", 1)[1] for n in licenses] == ["LICENSE"], name
    with zipfile.ZipFile(next(wheels.glob("compileiq_core-*.whl"))) as archive:
        text = archive.read(next(n for n in archive.namelist() if n.endswith("licenses/LICENSE"))).decode()
    assert "Apache License" in text and "Version 2.0, January 2004" in text and "END OF TERMS AND CONDITIONS" in text


def test_installing_the_root_name_gives_core_and_the_local_workers(wheels: Path, tmp_path: Path) -> None:
    """What the README says: `pip install --find-links dist open-compileiq`."""
    python = fresh_venv(tmp_path / "venv")
    run(UV, "pip", "install", "--python", python, "--find-links", str(wheels), "open-compileiq")
    installed = {d["name"] for d in json.loads(run(UV, "pip", "list", "--python", python, "--format", "json"))}
    assert {"open-compileiq", "compileiq-core", *(f"compileiq-{w}" for w in LOCAL_WORKERS)} <= installed
    assert not installed & {"compileiq", "compileiq-ray", "compileiq-mlflow", "ray"}
    out = subprocess.run([python, "-m", "compileiq", "workers", "--json"], capture_output=True, text=True, timeout=300)
    assert out.returncode == 0 and "NVIDIA" not in out.stderr, out.stderr
    listed = {r["name"]: r for r in json.loads(out.stdout)}
    assert set(listed) == LOCAL_WORKERS and all(r["status"] == "ok" for r in listed.values())
    assert {r["distribution"] for r in listed.values()} == {f"compileiq-{w}" for w in LOCAL_WORKERS}
    script = tmp_path / "search.py"
    script.write_text(SEARCH.replace('worker_type="sequential"', 'worker_type="multiprocess"')
                      .replace("search.start()", "search.start(num_workers=2)"))
    (tmp_path / "home").mkdir()
    assert run(python, str(script), cwd=tmp_path, env={"HOME": str(tmp_path / "home")}).strip() == "12"


def test_the_extras_install_the_ray_and_mlflow_plugins(wheels: Path, tmp_path: Path) -> None:
    python = fresh_venv(tmp_path / "venv")
    run(UV, "pip", "install", "--python", python, "--find-links", str(wheels), "open-compileiq[all]")
    installed = {d["name"] for d in json.loads(run(UV, "pip", "list", "--python", python, "--format", "json"))}
    assert PUBLISHED <= installed and {"ray", "mlflow"} <= installed
    listed = {r["name"]: r["status"] for r in json.loads(run(python, "-m", "compileiq", "workers", "--json"))}
    assert listed == {**{w: "ok" for w in LOCAL_WORKERS}, "ray": "ok"}


def test_nvidias_compileiq_installed_over_ours_is_reported_with_a_fix_that_works(
    wheels: Path, tmp_path: Path
) -> None:
    """Install NVIDIA's `compileiq` over ours (its real wheel when the index is reachable), see the
    warning, apply the fix it prints, and check the environment works again."""
    python = fresh_venv(tmp_path / "venv")
    run(UV, "pip", "install", "--python", python, "--find-links", str(wheels), "open-compileiq")
    site = Path(run(python, "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])").strip())
    real = subprocess.run([UV, "pip", "install", "--python", python, "--no-deps", "compileiq==1.1.0"],
                          capture_output=True, text=True, timeout=600)
    if real.returncode != 0:  # no index: put the files NVIDIA's wheel adds (its RECORD) in place by hand
        for name in ("compileiq/backends.py", "compileiq/search_spaces/resolver.py",
                     "compileiq_native_runtime/__init__.py"):
            (site / name).parent.mkdir(parents=True, exist_ok=True)
            (site / name).write_text("")
    imported = subprocess.run([python, "-c", "import compileiq"], capture_output=True, text=True, timeout=300)
    assert "InstallationConflictWarning" in imported.stderr and "NVIDIA's CompileIQ" in imported.stderr
    assert "pip uninstall -y compileiq" in imported.stderr
    if real.returncode == 0:
        workers = subprocess.run([python, "-m", "compileiq", "workers"], capture_output=True, text=True, timeout=300)
        assert "found compileiq 1.1.0" in workers.stderr or "InstallationConflictWarning" in workers.stderr

        # the fix the message gives, with uv's pip (a uv venv has no pip of its own)
        run(UV, "pip", "uninstall", "--python", python, "compileiq")
        run(UV, "pip", "install", "--python", python, "--reinstall", "--no-deps",
            str(next(wheels.glob("compileiq_core-*.whl"))))
        healed = subprocess.run([python, "-m", "compileiq", "workers", "--json"], capture_output=True, text=True,
                                timeout=300)
        assert healed.returncode == 0 and "NVIDIA" not in healed.stderr, healed.stderr
        assert {r["name"] for r in json.loads(healed.stdout)} == LOCAL_WORKERS
        assert not (site / "compileiq" / "backends.py").exists()


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
