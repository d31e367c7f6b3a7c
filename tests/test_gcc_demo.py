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


def test_associative_math_is_a_valid_build(workload: Workload) -> None:
    """The flags that can beat -O3 -march=native (a vectorized residual sum) keep the answer right."""
    config = {"opt": "-O3", "march": "-march=native",
              "associative_math": "-fassociative-math -fno-signed-zeros -fno-trapping-math"}
    assert isinstance(runtime_ms(config, workload), float)


def test_interleaved_rounds_give_one_sample_per_build_and_round(workload: Workload) -> None:
    from compare import measure_interleaved

    samples = measure_interleaved({"a": ["-O0"], "b": ["-O2"]}, workload, rounds=3)
    assert set(samples) == {"a", "b"} and all(len(v) == 3 and min(v) > 0 for v in samples.values())


def test_speedup_interval_and_verdict_say_what_the_data_say() -> None:
    from compare import speedup_ci, verdict

    noise = [1.00, 1.03, 0.98, 1.05, 0.97, 1.01, 0.99, 1.02, 0.96, 1.04]
    reference = [2.0 * n for n in noise]
    point, low, high = speedup_ci(reference, [1.0 * n for n in reversed(noise)])
    assert 1.8 < low <= point <= high < 2.2
    assert verdict("-O3", point, low, high).startswith("tuned beats -O3")
    same = speedup_ci(reference, list(reversed(reference)))
    assert same[1] < 1.0 < same[2] and verdict("-O3", *same).startswith("no measurable difference")
    slower = speedup_ci(reference, [4.0 * n for n in noise])
    assert slower[2] < 1.0 and "SLOWER" in verdict("-O3", *slower)
    with pytest.raises(ValueError, match="paired samples"):
        speedup_ci([1.0, 2.0], [1.0])
