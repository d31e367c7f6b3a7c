"""Shared fixtures: every Search writes its run folders under a temporary directory."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest

os.environ.setdefault("RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER", "0")
sys.path.insert(0, str(Path(__file__).parent))


@pytest.fixture
def cache_dir(tmp_path: Path) -> Path:
    """A fresh base folder for Search(cache_folder=...)."""
    folder = tmp_path / "cache"
    folder.mkdir()
    return folder


@pytest.fixture
def fresh_registries():
    """Forget loaded plugins and registrations before and after the test."""
    from compileiq import registry
    from compileiq.plugins import reset_plugin_manager

    saved = registry.snapshot()
    reset_plugin_manager()
    registry.restore()  # no in-process registration
    yield
    registry.restore(saved)
    reset_plugin_manager()
