"""NVIDIA's `compileiq` distribution installed next to ours is detected, with the fix."""

from __future__ import annotations

import subprocess
import sys
import warnings
from pathlib import Path

import pytest

from compileiq.installation import InstallationConflictWarning, nvidia_conflict, warn_if_conflict


def fake_site(tmp_path: Path, mixed: bool = False, dist_info: str | None = None) -> Path:
    """A site folder holding our package folder, optionally with NVIDIA's files and metadata."""
    site = tmp_path / "site"
    (site / "compileiq" / "search_spaces").mkdir(parents=True)
    (site / "compileiq" / "__init__.py").write_text("")
    if mixed:
        (site / "compileiq" / "search_spaces" / "resolver.py").write_text("")
        (site / "compileiq_native_runtime").mkdir()
    if dist_info is not None:
        info = site / "compileiq-1.1.0.dist-info"
        info.mkdir()
        (info / "METADATA").write_text(dist_info)
    return site


NVIDIA_METADATA = "Metadata-Version: 2.4\nName: compileiq\nVersion: 1.1.0\nRequires-Dist: pydantic>=2\n"


def test_a_clean_environment_has_no_conflict(tmp_path: Path) -> None:
    site = fake_site(tmp_path)
    assert nvidia_conflict(thorough=False, package_dir=str(site / "compileiq")) is None
    assert nvidia_conflict(thorough=True) is None  # this test environment holds only ours


def test_nvidia_files_in_our_package_folder_are_found_by_the_cheap_check(tmp_path: Path) -> None:
    site = fake_site(tmp_path, mixed=True)
    message = nvidia_conflict(thorough=False, package_dir=str(site / "compileiq"))
    assert message is not None
    assert "NVIDIA's CompileIQ" in message and "resolver.py" in message and "compileiq_native_runtime" in message
    assert "pip uninstall -y compileiq" in message and "--force-reinstall --no-deps compileiq-core" in message


def test_nvidia_distribution_on_sys_path_is_found_by_the_thorough_check(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    site = fake_site(tmp_path, dist_info=NVIDIA_METADATA)
    monkeypatch.syspath_prepend(str(site))
    message = nvidia_conflict(thorough=True, package_dir=str(tmp_path))
    assert message is not None and "found compileiq 1.1.0 at" in message and str(site) in message
    assert nvidia_conflict(thorough=False, package_dir=str(site / "compileiq")) is None  # files not mixed


def test_our_own_root_under_its_old_name_is_not_taken_for_nvidias(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    ours = "Metadata-Version: 2.4\nName: compileiq\nVersion: 1.0.0\nRequires-Dist: compileiq-core==1.0.0\n"
    monkeypatch.syspath_prepend(str(fake_site(tmp_path, dist_info=ours)))
    assert nvidia_conflict(thorough=True, package_dir=str(tmp_path)) is None


def test_import_warns_when_files_are_mixed(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    import compileiq.installation as installation

    monkeypatch.setattr(installation, "_PACKAGE_DIR", str(fake_site(tmp_path, mixed=True) / "compileiq"))
    with pytest.warns(InstallationConflictWarning, match="Keep one per environment"):
        warn_if_conflict()
    monkeypatch.setattr(installation, "_PACKAGE_DIR", str(fake_site(tmp_path / "clean") / "compileiq"))
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        warn_if_conflict()


@pytest.mark.parametrize("command", ["workers", "plugins"])
def test_listing_commands_print_the_conflict_on_stderr(tmp_path: Path, command: str) -> None:
    site = fake_site(tmp_path, dist_info=NVIDIA_METADATA)
    (site / "compileiq" / "__init__.py").unlink()  # keep only the metadata: the package stays ours
    code = ("import sys, runpy; sys.path.insert(0, sys.argv.pop(1)); sys.argv = ['compileiq', sys.argv.pop(1), "
            "'--json']; runpy.run_module('compileiq', run_name='__main__')")
    out = subprocess.run([sys.executable, "-c", code, str(site), command], capture_output=True, text=True,
                         timeout=120)
    assert "WARNING: NVIDIA's CompileIQ" in out.stderr and "found compileiq 1.1.0" in out.stderr
    assert out.stdout.lstrip().startswith("[")  # the JSON on stdout is untouched
