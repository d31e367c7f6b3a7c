"""Scheduling benchmark: how much of the workers' time a search uses when durations vary.

    python benchmarks/dispatch/scheduling.py [--quick] [--worker multiprocess] [--out docs/benchmarks-scheduling.md]

Objectives sleep a duration drawn from a distribution (median `--median` seconds, 20 ms by
default): lognormal with sigma 0.5, lognormal with sigma 1, and lognormal sigma 0.5 where 5 % of
the candidates hang until a timeout of 10 x the median. Each is run, pool 16, 12 generations,
on 8 and 16 workers, three ways side by side:

- a whole Search with `scheduling="generational"` through the worker;
- a whole Search with `scheduling="asynchronous"` through the same worker;
- a raw `concurrent.futures` as-completed loop (ProcessPoolExecutor, warm, `workers` in flight,
  one more submitted as each finishes) over as many durations from the same distribution, with
  hangs cut at the timeout for free: the ceiling.

Share of worker time = the evaluation time used (hangs count up to the timeout) / (workers x
the span from the first evaluation's start to the last one's end). The span leaves out the
worker's start-up, which both Search modes pay alike. Targets (issue 12): sigma 1 on 8 workers,
asynchronous >= 0.9 of the raw loop's share and <= 0.6 of the generational span.
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import sys
import time
import warnings
from concurrent.futures import FIRST_COMPLETED, ProcessPoolExecutor, wait
from datetime import UTC, datetime
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
import scheduling_objectives as so  # noqa: E402

POOL = 16
GENERATIONS = 12


def run_search(scheduling: str, dist: str, workers: int, median: float, worker: str, seed: int) -> dict[str, float]:
    import compileiq.search_spaces.base as ss
    from compileiq import EngineConfig, Search, SearchConfiguration

    timeout = so.timeout(dist, median)
    search = Search(
        objective_function=so.sleeper(dist, median),
        search_space={"i": ss.range(0, 10**7)},
        search_config=SearchConfiguration(generations=GENERATIONS, pool_size=POOL, scheduling=scheduling),
        worker_type=worker, engine=EngineConfig("random", {"seed": seed}),
        cache_folder="/tmp/compileiq-bench-scheduling", disable_progress_bar=True, exit_on_failure=False,
    )
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        frame = search.start(num_workers=workers, task_timeout=timeout).get_results()
    frame = frame[~frame["is_baseline"]]
    durations = [so.duration(dist, median, p["i"]) for p in frame["params"]]
    used = sum(min(d, timeout) if timeout else d for d in durations)
    ok = frame["failure_reason"].isna().to_numpy()
    finished = [(float(end), d) for end, d, good in zip(frame["score_1"], durations, ok) if good]
    span = max(end for end, _ in finished) - min(end - d for end, d in finished)
    return {"span": span, "share": used / (workers * span), "evaluations": float(len(frame))}


def run_raw(dist: str, workers: int, median: float, count: int, pool: ProcessPoolExecutor) -> dict[str, float]:
    timeout = so.timeout(dist, median)
    durations = [so.duration(dist, median, 10**7 + i) for i in range(count)]
    cut = [min(d, timeout) if timeout else d for d in durations]
    todo = iter(cut)
    start = time.time()
    running = {pool.submit(so.nap, next(todo)) for _ in range(min(workers, count))}
    while running:
        done, running = wait(running, return_when=FIRST_COMPLETED)
        for future in done:
            future.result()
            nxt = next(todo, None)
            if nxt is not None:
                running.add(pool.submit(so.nap, nxt))
    span = time.time() - start
    return {"span": span, "share": sum(cut) / (workers * span), "evaluations": float(count)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="one repetition (default 3, medians reported)")
    parser.add_argument("--worker", default="multiprocess")
    parser.add_argument("--median", type=float, default=0.02, help="median duration in seconds")
    parser.add_argument("--workers", default="8,16")
    parser.add_argument("--out", default=str(Path(__file__).resolve().parents[2] / "docs" / "benchmarks-scheduling.md"))
    args = parser.parse_args()
    repeats = 1 if args.quick else 3
    rows = []
    header = f"{'durations':22} {'workers':>7} {'gen share':>9} {'async share':>11} {'raw share':>9} " \
             f"{'async/raw':>9} {'async/gen span':>14}"
    print(header, flush=True)
    for workers in [int(w) for w in args.workers.split(",")]:
        with ProcessPoolExecutor(workers) as pool:
            list(pool.map(so.nap, [0.0] * workers * 2))  # warm
            for dist in so.DISTRIBUTIONS:
                got: dict[str, list[dict[str, float]]] = {"generational": [], "asynchronous": [], "raw": []}
                for rep in range(repeats):
                    for mode in ("generational", "asynchronous"):
                        got[mode].append(run_search(mode, dist, workers, args.median, args.worker, seed=rep))
                    count = int(got["asynchronous"][-1]["evaluations"])
                    got["raw"].append(run_raw(dist, workers, args.median, count, pool))
                med = {k: {m: statistics.median(r[m] for r in v) for m in ("span", "share")} for k, v in got.items()}
                row = (so.LABELS[dist], workers, med["generational"]["share"], med["asynchronous"]["share"],
                       med["raw"]["share"], med["asynchronous"]["share"] / med["raw"]["share"],
                       med["asynchronous"]["span"] / med["generational"]["span"])
                rows.append(row)
                print(f"{row[0]:22} {row[1]:7d} {row[2]:9.2f} {row[3]:11.2f} {row[4]:9.2f} {row[5]:9.2f} "
                      f"{row[6]:14.2f}", flush=True)
    stamp = datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC")
    lines = [
        "# Scheduling: generational against asynchronous",
        "",
        f"`python benchmarks/dispatch/scheduling.py` ({'quick, 1 repetition' if args.quick else 'medians of 3'}), "
        f"{stamp}; Python {platform.python_version()}, {os.cpu_count()} CPUs, worker `{args.worker}`, pool "
        f"{POOL}, {GENERATIONS} generations, median duration {args.median * 1e3:g} ms. Share = evaluation "
        "time used / (workers x span); the raw loop is a warm ProcessPoolExecutor as-completed loop over the "
        "same distribution (hangs cut at the timeout for free), the ceiling.",
        "",
        "| durations | workers | generational share | asynchronous share | raw loop share | async / raw | "
        "async span / generational span |",
        "|---|---:|---:|---:|---:|---:|---:|",
        *(f"| {r[0]} | {r[1]} | {r[2]:.2f} | {r[3]:.2f} | {r[4]:.2f} | {r[5]:.2f} | {r[6]:.2f} |" for r in rows),
        "",
        "Targets (issue 12): lognormal sigma 1 on 8 workers, async / raw >= 0.9 and async span / generational "
        "span <= 0.6. The machine is shared (2 cores): figures move between runs.",
    ]
    out = Path(args.out)
    kept = ""
    if out.exists():  # later sections (e.g. the quality per evaluation, from benchmarks/quality/) stay
        old = out.read_text()
        kept = old[old.index("\n## "):] if "\n## " in old else ""
    out.write_text("\n".join(lines) + "\n" + kept)
    print(f"\nwritten to {args.out}")


if __name__ == "__main__":
    main()

