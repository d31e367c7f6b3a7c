"""Output-flood overhead: the same candidates, quiet and printing MBs each, side by side.

Each process worker runs a batch of candidates that do the same work (a short sleep); in the
"flood" arm every candidate also prints `--mb` MB (half stdout, half stderr), which the worker
captures into the run folder's `logs/<param_id>.txt` (capped at 1 MiB, tail kept). Arms are
interleaved and repeated; the figure is the ratio of median wall times, flood / quiet, and the
driver's peak RSS after each arm.

    python benchmarks/output_flood/run.py [--mb 10] [--candidates 16] [--repeats 3]
"""

from __future__ import annotations

import argparse
import os
import resource
import statistics
import tempfile
import time
from typing import Any

from compileiq.registry import resolve_worker


def objective(config: dict[str, Any]) -> float:
    total = int(config["mb"] * 1_000_000)
    chunk = b"noise from a compiler, line after line " * 1680 + b"\n"
    written = writes = 0
    while written < total:
        written += os.write(1 + writes % 2, chunk[: total - written])
        writes += 1
    time.sleep(0.05)
    return float(config["x"])


def one_batch(worker_name: str, mb: float, candidates: int, folder: str) -> float:
    worker = resolve_worker(worker_name).create(cache_folder=folder, normalize=False, tracker=None)
    worker.setup()
    try:
        pool = [{"x": i, "mb": mb} for i in range(candidates)]
        start = time.perf_counter()
        scores = worker.run(function=objective, params_pool=pool, params_ids=list(range(candidates)), num_workers=2)
        elapsed = time.perf_counter() - start
    finally:
        worker.close()
    assert len(scores) == candidates and not any(s.failed for s in scores)
    return elapsed


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--mb", type=float, default=10.0)
    parser.add_argument("--candidates", type=int, default=16)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    print(f"{args.candidates} candidates x 0.05 s on 2 processes; flood arm: {args.mb:g} MB of output each "
          f"({args.candidates * args.mb:g} MB per batch); median of {args.repeats} interleaved repeats")
    print("| worker | quiet (s) | flood (s) | flood / quiet | driver peak RSS (MiB) |")
    print("| --- | --- | --- | --- | --- |")
    for name in ("multiprocess", "isolated"):
        times: dict[str, list[float]] = {"quiet": [], "flood": []}
        for _ in range(args.repeats):
            for arm, mb in (("quiet", 0.0), ("flood", args.mb)):
                with tempfile.TemporaryDirectory() as folder:
                    times[arm].append(one_batch(name, mb, args.candidates, folder))
        quiet, flood = statistics.median(times["quiet"]), statistics.median(times["flood"])
        rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
        print(f"| {name} | {quiet:.2f} | {flood:.2f} | {flood / quiet:.2f} | {rss:.0f} |")


if __name__ == "__main__":
    main()
