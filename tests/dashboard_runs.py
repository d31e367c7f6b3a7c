"""Real run folders for the dashboard tests, benchmark and screenshots (small seeded searches).

- `finished_run`: a single-objective genetic search with failures of two kinds (an exception and
  an INVALID_SCORE return) and the captured output of one failed evaluation;
- `pareto_run`: a two-objective search;
- `hostile_run`: parameter values and failure text that are HTML/script;
- `LIVE_SCRIPT`: a search that keeps writing (one evaluation every ~50 ms) until it is killed.
"""

from __future__ import annotations

import math
import sys
from pathlib import Path
from typing import Any

import compileiq.search_spaces.base as ss
from compileiq import INVALID_SCORE, EngineConfig, Search, SearchConfiguration

SCRIPT = "<script>window.__xss = 1</script>"
IMG = '<img src=x onerror="window.__xss = 2">'


def kernel(config: dict[str, Any]) -> Any:
    """A made-up kernel time: best near block=128, unroll=4, vectorize on; some builds fail."""
    block, unroll = config["block"], config["unroll"]
    if block == 16 and unroll == 8:
        raise RuntimeError(f"compiler error: register spill with block={block}, unroll={unroll}")
    if block >= 240:
        return INVALID_SCORE
    vec = {"off": 1.35, "sse": 1.1, "avx2": 1.0}[config["vectorize"]]
    return round(vec * (1 + ((block - 128) / 64) ** 2 + 0.15 * abs(math.log2(unroll) - 2)), 4)


def two_objectives(config: dict[str, Any]) -> Any:
    """Time against memory: a trade-off along x."""
    x, y = config["x"] / 50, config["y"] / 50
    return [round(x + 0.3 * y, 4), round((1 - x) ** 2 + 0.2 + 0.3 * y, 4)]


def hostile(config: dict[str, Any]) -> Any:
    if config["label"] == IMG:
        raise ValueError(f"failed on {IMG} and {SCRIPT}")
    return float(config["n"])


def _search(cache: Path, objective: Any, space: dict[str, Any], **config: Any) -> Search:
    return Search(objective_function=objective, search_space=space,
                  search_config=SearchConfiguration(**config), worker_type="sequential",
                  engine=EngineConfig("genetic", {"seed": 3}), cache_folder=cache, exit_on_failure=False,
                  disable_progress_bar=True)


KERNEL_SPACE = {"block": ss.range(16, 256, 16), "unroll": ss.choice([1, 2, 4, 8]),
                "vectorize": ss.choice(["off", "sse", "avx2"])}


def finished_run(cache: Path, generations: int = 8, pool_size: int = 16) -> Path:
    import warnings

    search = _search(cache, kernel, KERNEL_SPACE, generations=generations, pool_size=pool_size)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        result = search.start()
    reasons = result.df_results["failure_reason"].astype(str)
    failed = result.df_results[reasons.str.startswith("exception")]
    logs = search.cache_folder / "logs"
    logs.mkdir(exist_ok=True)
    for param_id in failed["param_id"].head(1):
        (logs / f"{param_id}.txt").write_text(f"cc -O2 kernel.c\nkernel.c:12: error: {SCRIPT}\n")
    return search.cache_folder


def pareto_run(cache: Path) -> Path:
    search = _search(cache, two_objectives, {"x": ss.range(0, 50), "y": ss.range(0, 50)}, generations=6,
                     pool_size=20, num_objectives=2)
    search.start()
    return search.cache_folder


def hostile_run(cache: Path) -> Path:
    import warnings

    search = _search(cache, hostile, {"label": ss.choice([SCRIPT, IMG, "plain"]), "n": ss.range(0, 9)},
                     generations=2, pool_size=8)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        search.start()
    return search.cache_folder


LIVE_SCRIPT = """
import sys, time
sys.path.insert(0, {tests!r})
import dashboard_runs
from compileiq import EngineConfig, Search, SearchConfiguration

def slow(config):
    time.sleep({delay})
    return dashboard_runs.kernel(config)

if __name__ == "__main__":
    search = Search(objective_function=slow, search_space=dashboard_runs.KERNEL_SPACE,
                    search_config=SearchConfiguration(generations=100000, pool_size=8), worker_type="sequential",
                    engine=EngineConfig("random", {{"seed": 1}}), cache_folder={cache!r}, exit_on_failure=False,
                    disable_progress_bar=True)
    print(search.cache_folder, flush=True)
    search.start()
"""


def live_command(cache: Path, delay: float = 0.05) -> list[str]:
    """The command line of a search that keeps writing to a run under `cache` until killed."""
    code = LIVE_SCRIPT.format(tests=str(Path(__file__).parent), cache=str(cache), delay=delay)
    return [sys.executable, "-c", code]
