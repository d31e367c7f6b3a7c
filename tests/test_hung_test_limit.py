"""The repository's root conftest ends a pytest run whose test hangs (tracebacks, status 1)."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

ROOT_CONFTEST = Path(__file__).resolve().parents[1] / "conftest.py"


def _pytest(folder: Path, timeout: str) -> tuple[subprocess.CompletedProcess[str], float]:
    env = {**os.environ, "COMPILEIQ_TEST_TIMEOUT": timeout}
    start = time.monotonic()
    done = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "--rootdir", str(folder), str(folder)],
        capture_output=True, text=True, env=env, cwd=folder, timeout=120,
    )
    return done, time.monotonic() - start


def test_a_hanging_test_ends_the_run_with_every_threads_traceback(tmp_path: Path) -> None:
    shutil.copy(ROOT_CONFTEST, tmp_path / "conftest.py")
    (tmp_path / "test_hangs.py").write_text(
        "import time\n\n\ndef test_quick():\n    pass\n\n\n"
        "def test_hangs_in_sleep_forever():\n    time.sleep(3600)\n"
    )
    done, took = _pytest(tmp_path, "3")
    assert done.returncode == 1, done.stdout + done.stderr
    assert "Timeout" in done.stderr and "test_hangs_in_sleep_forever" in done.stderr, done.stderr
    assert took < 100  # ended by the 3 s limit, not by this test's own 120 s bound


def test_tests_within_the_limit_pass_and_a_bad_limit_is_named(tmp_path: Path) -> None:
    shutil.copy(ROOT_CONFTEST, tmp_path / "conftest.py")
    (tmp_path / "test_ok.py").write_text(
        "import time\n\n\ndef test_a():\n    time.sleep(0.5)\n\n\ndef test_b():\n    time.sleep(0.5)\n"
    )
    done, _ = _pytest(tmp_path, "2")  # each test is under 2 s, the two together are not: per test
    assert done.returncode == 0, done.stdout + done.stderr
    assert "2 passed" in done.stdout
    done, _ = _pytest(tmp_path, "soon")
    assert done.returncode != 0
    assert "COMPILEIQ_TEST_TIMEOUT='soon'" in done.stdout + done.stderr
