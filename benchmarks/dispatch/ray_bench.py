"""RayWorker against raw `ray.remote` tasks, in the same run on the same local Ray.

Measures, on one local Ray bound to 127.0.0.1:
- time to first evaluation: from `ray.init` returning to the first Score reported by a fresh
  RayWorker (target: within 1 s);
- throughput (evaluations/s) for a no-op and a 50 ms sleep objective, pools of 100 and 1000:
  RayWorker.run() versus submitting the same objective as plain Ray tasks and getting them all
  (target: RayWorker at least 0.8 of raw Ray), plus RayWorker with task_timeout set (streaming
  tasks, so the timeout counts from the moment each task starts);
- timeout kill latency: how long after its deadline a hung task's Score arrives and its process
  is gone.

Usage: python benchmarks/dispatch/ray_bench.py [--repeats N] [--cpus N] [--out docs/benchmarks-ray.md]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import sys
import time
from pathlib import Path

from compileiq.testing.processes import alive

os.environ.setdefault("RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER", "0")
os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")

ROOT = Path(__file__).resolve().parents[2]


def noop(config: dict) -> float:
    return 1.0


def sleep50(config: dict) -> float:
    time.sleep(0.05)
    return 1.0


def hang(config: dict) -> float:
    time.sleep(3600)
    return 1.0


def first_evaluation(worker_cls: type) -> dict[str, float]:
    """Seconds from now (Ray just up) to the first Score reported by a fresh worker."""
    worker = worker_cls()
    start = time.perf_counter()
    first: list[float] = []
    worker.score_sink = lambda score: first.append(time.perf_counter() - start) if not first else None
    worker.setup()
    worker.run(function=noop, params_pool=[{"i": 0}], params_ids=[0])
    total = time.perf_counter() - start
    return {"first_score_s": first[0], "run_s": total}


def raw_ray(ray, function, pool: list[dict]) -> float:
    remote = ray.remote(max_retries=0)(function)
    start = time.perf_counter()
    ray.get([remote.remote(p) for p in pool])
    return time.perf_counter() - start


def with_worker(worker, function, pool: list[dict], **kwargs) -> float:
    start = time.perf_counter()
    scores = worker.run(function=function, params_pool=pool, params_ids=list(range(len(pool))), **kwargs)
    took = time.perf_counter() - start
    assert len(scores) == len(pool) and not any(s.failed for s in scores)
    return took


def timeout_latency(worker, timeout: float = 1.0) -> dict[str, float]:
    """Deadline to Score, and deadline to the hung process gone (both in seconds)."""
    started: list[float] = []
    start = time.perf_counter()
    scores = worker.run(function=hang, params_pool=[{}], params_ids=[0], task_timeout=timeout)
    returned = time.perf_counter()
    meta = scores[0].metadata_dict
    assert meta["failure"] == "timeout", meta
    pid = int(meta["pid"])
    while alive(pid) and time.perf_counter() - returned < 30:
        time.sleep(0.01)
    gone = time.perf_counter()
    del started
    return {"run_s": returned - start, "timeout_s": timeout, "process_gone_after_run_s": gone - returned}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--cpus", type=int, default=os.cpu_count() or 2)
    parser.add_argument("--pools", default="100,1000")
    parser.add_argument("--out", default=str(ROOT / "docs" / "benchmarks-ray.md"))
    args = parser.parse_args()

    import ray

    from compileiq_ray import RayWorker

    t0 = time.perf_counter()
    ray.init(address="local", num_cpus=args.cpus, include_dashboard=False, _node_ip_address="127.0.0.1",
             object_store_memory=80 * 1024**2, log_to_driver=False)
    ray_up_s = time.perf_counter() - t0
    report: dict = {"ray": ray.__version__, "python": platform.python_version(), "cpus": args.cpus,
                    "machine_cpus": os.cpu_count(), "ray_init_s": ray_up_s}
    try:
        report["first_evaluation"] = first_evaluation(RayWorker)
        worker = RayWorker()
        worker.setup()
        raw_ray(ray, noop, [{"i": i} for i in range(200)])  # warm both paths alike
        with_worker(worker, noop, [{"i": i} for i in range(200)])
        cases = []
        for function in (noop, sleep50):
            for size in (int(p) for p in args.pools.split(",")):
                pool = [{"i": i} for i in range(size)]
                raw, ours, timed = [], [], []
                for _ in range(args.repeats):
                    raw.append(raw_ray(ray, function, pool))
                    ours.append(with_worker(worker, function, pool))
                    timed.append(with_worker(worker, function, pool, task_timeout=60))
                case = {
                    "objective": function.__name__, "pool": size,
                    "raw_eval_s": size / statistics.median(raw),
                    "worker_eval_s": size / statistics.median(ours),
                    "worker_timeout_eval_s": size / statistics.median(timed),
                }
                case["ratio"] = case["worker_eval_s"] / case["raw_eval_s"]
                case["ratio_timeout"] = case["worker_timeout_eval_s"] / case["raw_eval_s"]
                cases.append(case)
                print(json.dumps(case), flush=True)
        report["cases"] = cases
        report["timeout_kill"] = timeout_latency(worker)
        worker.close()
    finally:
        ray.shutdown()
    print(json.dumps(report, indent=2))
    if args.out:
        Path(args.out).write_text(render(report))
        print(f"wrote {args.out}", file=sys.stderr)
    return 0


def render(report: dict) -> str:
    first = report["first_evaluation"]
    kill = report["timeout_kill"]
    lines = [
        "# RayWorker dispatch benchmark",
        "",
        "Made by `nox -s bench_ray` (`benchmarks/dispatch/ray_bench.py`): RayWorker against raw "
        "`ray.remote` tasks in the same run, on one local Ray bound to 127.0.0.1 "
        f"(Ray {report['ray']}, Python {report['python']}, {report['cpus']} CPUs given to Ray on a "
        f"{report['machine_cpus']}-core machine shared with other work, so figures are noisy). "
        "Throughput is the median of the repeats; raw Ray submits every task and `ray.get`s the list.",
        "",
        "| objective | pool | raw Ray (eval/s) | RayWorker (eval/s) | ratio | RayWorker + task_timeout | ratio |",
        "|---|---:|---:|---:|---:|---:|---:|",
    ]
    for c in report["cases"]:
        lines.append(
            f"| {c['objective']} | {c['pool']} | {c['raw_eval_s']:.0f} | {c['worker_eval_s']:.0f} | "
            f"{c['ratio']:.2f} | {c['worker_timeout_eval_s']:.0f} | {c['ratio_timeout']:.2f} |"
        )
    lines += [
        "",
        f"- Ray start (`ray.init`, local, {report['cpus']} CPUs): {report['ray_init_s']:.1f} s.",
        f"- Time to first evaluation, from Ray being up to the first Score reported by a fresh "
        f"RayWorker: {first['first_score_s']:.2f} s (target: within 1 s).",
        f"- Timeout kill: a hung task with task_timeout={kill['timeout_s']:g} s scored 'timeout' "
        f"{kill['run_s'] - kill['timeout_s']:.2f} s after its deadline (run() took {kill['run_s']:.2f} s "
        f"including scheduling), and its process was gone {kill['process_gone_after_run_s']:.2f} s "
        "after run() returned.",
        "- Target: RayWorker at least 0.8 of raw Ray throughput. Upstream's RayWorker reached "
        "about 0.6 (615 against 1.0k evaluations/s).",
        "",
        "Notes:",
        "",
        "- What RayWorker does per evaluation beyond a raw task: it runs the objective through "
        "`compileiq.evaluation.evaluate` (exceptions and bad returns become INVALID), records where "
        "it ran (node, GPU, task id, pid), ships the Score back as plain values, and hands each "
        "Score to the search as it lands (batched `ray.wait`, at most 50 ms late) instead of one "
        "`ray.get` at the end. The objective and the normalization baselines travel inside the "
        "exported task function, which is reused while they do not change, so a task carries only "
        "its params and id, like a raw one.",
        "- With `task_timeout`, tasks are streaming tasks that first report that they started, so "
        "the timeout counts from the start of the evaluation, not from the time it was queued. "
        "That costs two objects per task: noticeable for a no-op objective, a few percent at "
        "50 ms, nothing for real compile-and-benchmark objectives (seconds).",
        "- The machine is shared with other work; repeated runs of the no-op cases vary by "
        "about +-15%. Raw Ray and RayWorker runs are interleaved so both see the same load.",
        "",
    ]
    return "\n".join(lines)


if __name__ == "__main__":
    sys.exit(main())
