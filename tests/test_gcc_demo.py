"""The GCC demo's objective: right answers are timed, wrong answers (unsafe math) are INVALID."""

from __future__ import annotations

import shutil
import sys
from pathlib import Path

import pytest

DEMO = Path(__file__).parents[1] / "examples" / "gcc_flags"
sys.path.insert(0, str(DEMO))

from flags import SEARCH_SPACE, command_flags  # noqa: E402
from kernel import Workload, reference, runtime_ms  # noqa: E402

pytestmark = pytest.mark.skipif(not (shutil.which("cc") or shutil.which("gcc")), reason="needs a C compiler")


@pytest.fixture(scope="module")
def workload() -> Workload:
    return reference(Workload(n=64, steps=5, reps=3))


def test_baseline_is_plain_o2_and_flags_compose() -> None:
    assert command_flags({}) == ["-O2"]
    flags = command_flags({"opt": "-O3", "unroll": "-funroll-loops", "max_unroll_times": 4, "align_loops": 32,
                           "associative_math": "-fassociative-math -fno-signed-zeros -fno-trapping-math"})
    assert flags[:1] == ["-O3"] and "--param" in flags and "max-unroll-times=4" in flags
    assert "-fassociative-math" in flags and "-falign-loops=32" in flags
    assert set(SEARCH_SPACE) >= {"opt", "march", "unroll", "fast_math"}


def test_correct_builds_are_timed_and_wrong_answers_are_invalid(workload: Workload) -> None:
    assert workload.obstacles and workload.obstacles > 0
    assert isinstance(runtime_ms({}, workload), float)
    assert isinstance(runtime_ms({"opt": "-O3", "march": "-march=native"}, workload), float)
    assert runtime_ms({"opt": "-O2", "fast_math": "-ffast-math"}, workload) == "*"  # miscounts the NaN cells
    assert runtime_ms({"opt": "-O2", "march": "-mno-such-flag"}, workload) == "*"  # does not compile
