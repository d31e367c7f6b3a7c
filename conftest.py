"""Every test of core, plugins and examples: a test that hangs ends the run, loudly.

Without this, one hung test (a deadlocked pool, a Ray call that never returns) would hold CI
until its own limit and say nothing. After `COMPILEIQ_TEST_TIMEOUT` seconds (default 600, far
above any test's time on 2 loaded cores; 0 turns it off) the standard library's `faulthandler`
writes every thread's traceback to stderr and exits the test process with status 1.
"""

from __future__ import annotations

import faulthandler
import os
from collections.abc import Iterator
from typing import TextIO

import pytest

_STDERR: list[TextIO] = []  # a copy of the real stderr, taken before pytest captures the tests' output
_LIMIT: list[float] = []  # seconds per test (0: no limit), read once


def pytest_configure(config: pytest.Config) -> None:
    """Read the limit once (a bad value stops the run before any test) and keep a handle on
    the real stderr: during a test, fd 2 goes to pytest's capture file, which is lost when the
    process exits on a hang."""
    if not _LIMIT:
        _LIMIT.append(_timeout())
    if not _STDERR:
        _STDERR.append(os.fdopen(os.dup(2), "w", closefd=True))


def _timeout() -> float:
    raw = os.environ.get("COMPILEIQ_TEST_TIMEOUT", "600")
    try:
        value = float(raw)
    except ValueError:
        raise pytest.UsageError(
            f"COMPILEIQ_TEST_TIMEOUT={raw!r} is not a number of seconds; set e.g. 600, or 0 to turn the limit off."
        ) from None
    if value < 0:
        raise pytest.UsageError(f"COMPILEIQ_TEST_TIMEOUT={raw!r} is negative; set seconds >= 0 (0: no limit).")
    return value


@pytest.hookimpl(wrapper=True)
def pytest_runtest_protocol(item: pytest.Item, nextitem: pytest.Item | None) -> Iterator[None]:
    """Arm the timer for this test's set-up, call and tear-down; disarm it after."""
    seconds = _LIMIT[0]
    if seconds:
        faulthandler.dump_traceback_later(seconds, exit=True, file=_STDERR[0])
    try:
        return (yield)
    finally:
        if seconds:
            faulthandler.cancel_dump_traceback_later()
