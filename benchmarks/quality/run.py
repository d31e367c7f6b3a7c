"""Search-quality benchmark: our genetic engine against its peers; writes docs/benchmarks.md.

    python benchmarks/quality/run.py --upstream-python /path/to/venv-upstream/bin/python

Every optimizer runs in a subprocess (`optimizers.py`) with the Python that has it installed:
`--python` (default: this interpreter) for ours, random and Optuna; `--upstream-python` for
upstream CompileIQ 1.1.0, which shares our import name and so lives in its own venv (leave it
out and upstream is reported as not run). Raw traces go to `results/` (one JSON line per run,
not committed) and are packed into `traces.jsonl.gz` (committed: values to 7 significant
digits); `--report-only` rebuilds the tables and plots from that file.

Seeds: the tables report instances 0..N-1 (`--seeds N`); the pool-size sweep that checks
`default_pool_size` runs on other instances (`--tuning-seeds`, default 100-119), so the
default is not judged on the seeds it is reported on.
"""

from __future__ import annotations

import argparse
import gzip
import json
import math
import os
import statistics
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[1]
sys.path.insert(0, str(HERE))

from problems import PROBLEMS, hypervolume_2d, make_problem  # noqa: E402

PROBLEM_TITLES = {
    "sphere": "shifted sphere, 10 integer ranges 0..100",
    "rosenbrock": "shifted scaled Rosenbrock, 8 integer ranges 0..100",
    "flags": "synthetic compiler flags (30 flags, level, scheduler, unroll, block)",
    "zdt1": "two objectives (integer ZDT1, 8 ranges 0..100): hypervolume regret",
}


@dataclass(frozen=True)
class Contender:
    """One column of the tables: an optimizer at one pool size."""

    key: str
    optimizer: str
    pool: int  # 0: the optimizer's default
    label: str
    upstream: bool = False


CONTENDERS = [
    Contender("genetic-default", "genetic", 0, "**compileiq genetic (default pool)**"),
    Contender("genetic-20", "genetic", 20, "**compileiq genetic (pool 20)**"),
    Contender("upstream-20", "upstream", 20, "upstream CompileIQ 1.1 (pool 20)", upstream=True),
    Contender("upstream-32", "upstream", 32, "upstream, its default pool 32", upstream=True),
    Contender("tpe-1", "tpe", 1, "Optuna TPE (multivariate, group), one at a time"),
    Contender("tpe-20", "tpe", 20, "Optuna TPE (multivariate, group, constant liar) in pools of 20"),
    Contender("nsga2-20", "nsga2", 20, "Optuna NSGA-II (pop 20)"),
    Contender("random", "random", 20, "random"),
]
TIMED_AT_1000 = ["genetic", "upstream", "tpe", "nsga2", "random"]
SWEEP = [6, 10, 16, 20, 32]  # pool sizes of the genetic engine compared to choose the default
SWEEP_CONTENDERS = [Contender(f"sweep-{p}", "genetic", p, f"genetic, pool {p}") for p in SWEEP]
"""The sweep runs on the tuning seeds, never on the reported ones."""
TRACES = HERE / "traces.jsonl.gz"
"""Every run's trace, committed, so that `--report-only` rebuilds the report from a clean clone."""


def python_for(contender_upstream: bool, args: argparse.Namespace) -> str | None:
    return args.upstream_python if contender_upstream else args.python


def run_job(python: str, optimizer: str, problem: str, seeds: str, budget: int, pool: int, out: Path) -> str:
    """Run one optimizer on one problem for every seed; the JSON lines go to `out`."""
    cmd = [python, str(HERE / "optimizers.py"), "--optimizer", optimizer, "--problem", problem,
           "--seeds", seeds, "--budget", str(budget), "--pool", str(pool)]
    env = dict(os.environ, OPENBLAS_NUM_THREADS="1", OMP_NUM_THREADS="1", MKL_NUM_THREADS="1")
    start = time.time()
    done = subprocess.run(cmd, capture_output=True, text=True, env=env)
    if done.returncode:
        return f"FAILED {out.name}: {done.stderr.strip().splitlines()[-1:]}"
    out.write_text(done.stdout)
    return f"{out.name}: {time.time() - start:.0f}s"


# -- metrics ----------------------------------------------------------------------------------


def regret_curve(problem: Any, trace: list[Any]) -> list[float]:
    """Best-so-far regret after each evaluation (inf until something succeeded)."""
    curve, best = [], math.inf
    if problem.objectives == 1:
        for value in trace:
            if value is not None:
                best = min(best, value / problem.optimum - 1.0)
            curve.append(best)
        return curve
    points: list[tuple[float, float]] = []
    for value in trace:
        if value is not None:
            points.append(tuple(value))
        hv = hypervolume_2d(points, problem.reference) if points else 0.0
        curve.append(1.0 - hv / problem.best_hypervolume)
    return curve


def quantile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    if not ordered:
        return math.nan
    pos = q * (len(ordered) - 1)
    low = math.floor(pos)
    high = min(low + 1, len(ordered) - 1)
    if math.isinf(ordered[low]) or math.isinf(ordered[high]):
        return ordered[high] if pos > low else ordered[low]
    return ordered[low] + (ordered[high] - ordered[low]) * (pos - low)


def first_within(curve: list[float], level: float) -> float:
    return next((i + 1 for i, r in enumerate(curve) if r <= level), math.inf)


@dataclass
class Summary:
    median: float
    q25: float
    q75: float
    within_1: float
    within_5: float
    failed: float
    ms_per_eval: float
    curves: list[list[float]]


def summarize(records: list[dict], problem_name: str) -> Summary:
    curves, finals, w1, w5, failed, cpu = [], [], [], [], [], []
    for rec in records:
        problem = make_problem(problem_name, rec["seed"])
        curve = regret_curve(problem, rec["trace"])
        curves.append(curve)
        finals.append(curve[-1])
        w1.append(first_within(curve, 0.01))
        w5.append(first_within(curve, 0.05))
        failed.append(sum(v is None for v in rec["trace"]) / len(rec["trace"]))
        cpu.append(1000.0 * rec["cpu"] / len(rec["trace"]))
    return Summary(quantile(finals, 0.5), quantile(finals, 0.25), quantile(finals, 0.75), quantile(w1, 0.5),
                   quantile(w5, 0.5), statistics.mean(failed), quantile(cpu, 0.5), curves)


_ARCHIVE: dict[str, list[dict]] | None = None


def load(path: Path) -> list[dict]:
    """The records of `results/<key>__<problem>.jsonl`, read from the packed traces."""
    global _ARCHIVE
    if _ARCHIVE is None:
        _ARCHIVE = {}
        if TRACES.exists():
            with gzip.open(TRACES, "rt") as f:
                for line in f:
                    rec = json.loads(line)
                    _ARCHIVE.setdefault(rec.pop("file"), []).append(rec)
    return _ARCHIVE.get(path.name, [])


def _compact(value: Any) -> Any:
    if isinstance(value, float):
        return float(f"{value:.7g}")
    if isinstance(value, list):
        return [_compact(v) for v in value]
    return value


def pack(results: Path) -> None:
    """Merge `results/*.jsonl` into the committed `traces.jsonl.gz` (a file there replaces its old runs)."""
    global _ARCHIVE
    _ARCHIVE = None
    load(results / "-")  # read the current archive
    merged = dict(_ARCHIVE or {})
    for path in sorted(results.glob("*.jsonl")):
        merged[path.name] = [json.loads(line) for line in path.read_text().splitlines() if line.strip()]
    with gzip.GzipFile(TRACES, "wb", mtime=0) as raw:
        for name in sorted(merged):
            for rec in merged[name]:
                rec = {k: v for k, v in rec.items() if k != "file"}
                rec["trace"] = _compact(rec.get("trace", []))
                rec["cpu"] = round(rec["cpu"], 4)
                raw.write((json.dumps({"file": name, **rec}, separators=(",", ":")) + "\n").encode())
    _ARCHIVE = None


# -- report -----------------------------------------------------------------------------------


def pct(value: float) -> str:
    if math.isnan(value):
        return "n/a"
    if math.isinf(value):
        return "∞"
    return f"{100 * value:.2f} %" if value < 0.1 else f"{100 * value:.1f} %"


def evals(value: float, budget: int) -> str:
    return f"> {budget}" if math.isinf(value) else f"{value:.0f}"


def plot(problem: str, summaries: dict[str, Summary], labels: dict[str, str], budget: int, out: Path) -> bool:
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        return False
    fig, ax = plt.subplots(figsize=(7, 4.2))
    xs = list(range(1, budget + 1))
    for key, summary in summaries.items():
        columns = list(zip(*[c[:budget] for c in summary.curves if len(c) >= budget]))
        if not columns:
            continue
        floor = 1e-4
        med = [max(quantile(list(col), 0.5), floor) for col in columns]
        low = [max(quantile(list(col), 0.25), floor) for col in columns]
        high = [max(quantile(list(col), 0.75), floor) for col in columns]
        bold = key.startswith("genetic")
        line, = ax.plot(xs, med, label=labels[key].replace("*", ""), linewidth=2.2 if bold else 1.2)
        ax.fill_between(xs, low, high, alpha=0.15, color=line.get_color())
    ax.set_yscale("log")
    ax.set_xlabel("evaluations")
    ax.set_ylabel("best-so-far regret (median, IQR band)")
    ax.set_title(PROBLEM_TITLES[problem], fontsize=9)
    ax.grid(True, which="both", alpha=0.3)
    ax.legend(fontsize=7, loc="upper right")
    fig.tight_layout()
    fig.savefig(out, dpi=110)
    plt.close(fig)
    return True


def report(args: argparse.Namespace, timings: dict[str, dict[str, float]], notes: list[str]) -> str:
    results = HERE / "results"
    budget = args.budget
    labels = {c.key: c.label for c in CONTENDERS}
    lines = [
        "# Search quality: the genetic engine against its peers",
        "",
        "Generated by `nox -s bench_quality` (`benchmarks/quality/run.py`); do not edit by hand.",
        f"{args.seeds_count} seeded instances per problem (seeds 0–{args.seeds_count - 1}), {budget} "
        "evaluations per run, all optimizers in the same run on this machine (CPU figures with "
        "single-threaded BLAS). The default pool size is checked on other seeds "
        f"({args.tuning_seeds}, see the last section). Optuna TPE is multivariate with grouped "
        "parameters, and in pools it uses constant liar (asked trials count as pending); for "
        "Optuna a failed evaluation is told as the worst value seen so far (a penalty), as our "
        "engine ranks failures worst. The traces are in `benchmarks/quality/traces.jsonl.gz`: "
        "`nox -s bench_quality -- --report-only` rebuilds this page from them.",
        "",
        "Regret is `best / optimum − 1` for the single-objective problems (each reads like a "
        "runtime whose optimum is known) and `1 − hypervolume / best hypervolume` for the "
        "two-objective one. See `benchmarks/quality/problems.py` for the exact definitions.",
        "",
    ]
    lines += notes
    all_summaries: dict[str, dict[str, Summary]] = {}
    for problem in PROBLEMS:
        summaries: dict[str, Summary] = {}
        for c in CONTENDERS:
            records = load(results / f"{c.key}__{problem}.jsonl")
            if records:
                summaries[c.key] = summarize(records, problem)
        all_summaries[problem] = summaries
        lines += [f"## {PROBLEM_TITLES[problem]}", ""]
        lines += [
            "| optimizer | final regret, median | IQR | evals to 5 % (median) | evals to 1 % (median) "
            "| failed evaluations | optimizer CPU ms/eval |",
            "|---|---|---|---|---|---|---|",
        ]
        for c in CONTENDERS:
            s = summaries.get(c.key)
            if s is None:
                lines.append(f"| {c.label} | not run | | | | | |")
                continue
            lines.append(
                f"| {c.label} | {pct(s.median)} | {pct(s.q25)} – {pct(s.q75)} | {evals(s.within_5, budget)} "
                f"| {evals(s.within_1, budget)} | {100 * s.failed:.1f} % | {s.ms_per_eval:.2f} |"
            )
        img = ROOT / "docs" / "img" / f"quality_{problem}.png"
        img.parent.mkdir(parents=True, exist_ok=True)
        if plot(problem, summaries, labels, budget, img):
            lines += ["", f"![best-so-far regret, {problem}](img/{img.name})"]
        lines.append("")
    lines += targets(all_summaries)
    lines += paired_tests(args.seeds_count)
    lines += sweep(budget, args.tuning_seeds)
    if timings:
        lines += [
            "## Optimizer time per evaluation",
            "",
            "CPU time spent in ask and tell (the objective excluded), per evaluation. Pool 20: the "
            f"whole {budget}-evaluation runs above (median over seeds). Pool 1000: three generations "
            "of 1000 on one instance, the two after the random first generation counted (steady state); "
            "Optuna TPE only on the sphere and for two generations, since its ask slows down with "
            "every trial (n/a: not measured).",
            "",
            "| optimizer | " + " | ".join(f"{p}, pool 20 | {p}, pool 1000" for p in PROBLEMS) + " |",
            "|---|" + "---|" * (2 * len(PROBLEMS)),
        ]
        for optimizer in TIMED_AT_1000:
            key20 = {"genetic": "genetic-20", "upstream": "upstream-20", "tpe": "tpe-20",
                     "nsga2": "nsga2-20", "random": "random"}[optimizer]
            cells = []
            for problem in PROBLEMS:
                s = all_summaries[problem].get(key20)
                cells.append("n/a" if s is None else f"{s.ms_per_eval:.2f}")
                t = timings.get(optimizer, {}).get(problem)
                cells.append("n/a" if t is None else f"{t:.2f}")
            lines.append(f"| {labels[key20].replace('*', '')} | " + " | ".join(cells) + " |")
        lines.append("")
    return "\n".join(lines) + "\n"


def sweep(budget: int, tuning_seeds: str) -> list[str]:
    """The pool-size table behind `default_pool_size`, on the tuning seeds."""
    results = HERE / "results"
    medians: dict[str, dict[int, float]] = {}
    rows = []
    for pool in SWEEP:
        cells = []
        for problem in PROBLEMS:
            records = load(results / f"sweep-{pool}__{problem}.jsonl")
            if records:
                medians.setdefault(problem, {})[pool] = summarize(records, problem).median
            cells.append(pct(medians[problem][pool]) if records else "not run")
        rows.append(f"| {pool} | " + " | ".join(cells) + " |")
    best = {problem: min(m, key=m.get) for problem, m in medians.items() if m}
    verdict = ", ".join(f"{problem}: pool {pool}" for problem, pool in best.items()) or "not run"
    return [
        "## Choosing the default pool size (on held-out seeds)",
        "",
        f"Median final regret of the genetic engine at {budget} evaluations for several pool sizes, "
        f"on instances {tuning_seeds}: seeds that the tables above do not report, so that the "
        "default is not judged on the seeds it was chosen on. `default_pool_size` returns 16 up to "
        "three objectives (a choice made before this run). Lowest median per problem on these "
        f"seeds: {verdict}.",
        "",
        "| pool | " + " | ".join(PROBLEMS) + " |",
        "|---|" + "---|" * len(PROBLEMS),
        *rows,
        "",
    ]


def wilcoxon(x: list[float], y: list[float]) -> tuple[int, float, float]:
    """Two-sided Wilcoxon signed-rank test of paired samples: (non-zero pairs, W+, p-value).

    Zero differences are dropped; exact null distribution without ties up to 25 pairs, else the
    normal approximation with tie and continuity corrections.
    """
    diffs = [a - b for a, b in zip(x, y) if a != b and not (math.isinf(a) and math.isinf(b))]
    n = len(diffs)
    if n == 0:
        return 0, 0.0, 1.0
    order = sorted(range(n), key=lambda i: abs(diffs[i]))
    ranks = [0.0] * n
    i = 0
    ties = []
    while i < n:
        j = i
        while j + 1 < n and abs(diffs[order[j + 1]]) == abs(diffs[order[i]]):
            j += 1
        for k in range(i, j + 1):
            ranks[order[k]] = (i + j) / 2 + 1
        ties.append(j - i + 1)
        i = j + 1
    w_plus = sum(r for r, d in zip(ranks, diffs) if d > 0)
    total = n * (n + 1) / 2
    if n <= 25 and all(t == 1 for t in ties):
        counts = [1] + [0] * int(total)  # counts[s]: subsets of ranks 1..n summing to s
        for r in range(1, n + 1):
            for s in range(int(total), r - 1, -1):
                counts[s] += counts[s - r]
        low = min(w_plus, total - w_plus)
        tail = sum(counts[: int(low) + 1]) / 2**n
        return n, w_plus, min(1.0, 2 * tail)
    mean = total / 2
    var = n * (n + 1) * (2 * n + 1) / 24 - sum(t**3 - t for t in ties) / 48
    z = (abs(w_plus - mean) - 0.5) / math.sqrt(var) if var > 0 else 0.0
    return n, w_plus, min(1.0, math.erfc(max(z, 0.0) / math.sqrt(2)))


def paired_tests(reported_seeds: int) -> list[str]:
    """Per problem: the default genetic engine against every other contender, seed by seed."""
    results = HERE / "results"
    lines = [
        "## Paired test per problem",
        "",
        "Final regret of **compileiq genetic (default pool)** against each other optimizer on the "
        f"same {reported_seeds} instances (seed by seed): wins / ties / losses for ours, the median "
        "of the paired differences (ours − theirs, in regret points; negative: ours better), and "
        "the two-sided p-value of the Wilcoxon signed-rank test (exact without ties, else normal "
        "approximation; implemented in run.py). p < 0.05 with more wins than losses: ours is "
        "better on this problem; p ≥ 0.05: no significant difference at this number of seeds.",
        "",
        "| problem | against | wins / ties / losses | median difference | p-value |",
        "|---|---|---|---|---|",
    ]
    labels = {c.key: c.label.replace("*", "") for c in CONTENDERS}
    for problem in PROBLEMS:
        ours = {r["seed"]: r for r in load(results / f"genetic-default__{problem}.jsonl")}
        if not ours:
            continue
        mine = {seed: regret_curve(make_problem(problem, seed), r["trace"])[-1] for seed, r in ours.items()}
        for c in CONTENDERS:
            if c.key == "genetic-default":
                continue
            theirs = {r["seed"]: r for r in load(results / f"{c.key}__{problem}.jsonl")}
            seeds = sorted(set(mine) & set(theirs))
            if not seeds:
                continue
            other = {seed: regret_curve(make_problem(problem, seed), theirs[seed]["trace"])[-1] for seed in seeds}
            x, y = [mine[s] for s in seeds], [other[s] for s in seeds]
            wins = sum(a < b for a, b in zip(x, y))
            losses = sum(a > b for a, b in zip(x, y))
            _, _, p = wilcoxon(x, y)
            diff = statistics.median(a - b for a, b in zip(x, y) if not (math.isinf(a) or math.isinf(b)))
            lines.append(f"| {problem} | {labels[c.key]} | {wins} / {len(seeds) - wins - losses} / {losses} "
                         f"| {100 * diff:+.2f} | {p:.2g} |")
    lines.append("")
    return lines


def targets(all_summaries: dict[str, dict[str, Summary]]) -> list[str]:
    lines = ["## Targets", "", "| problem | pool 20 ≤ ½ upstream (pool 20) | pool 20 ≤ ½ TPE in pools of 20 "
             "| default ≤ sequential TPE |", "|---|---|---|---|"]
    for problem, s in all_summaries.items():
        ours20, ours, up, tpe20, tpe1 = (s.get(k) for k in
                                         ("genetic-20", "genetic-default", "upstream-20", "tpe-20", "tpe-1"))

        def check(a: Summary | None, b: Summary | None, factor: float) -> str:
            if a is None or b is None:
                return "not measured"
            ok = a.median <= factor * b.median
            return f"{'met' if ok else 'MISSED'} ({pct(a.median)} vs {pct(b.median)})"

        cells = [check(ours20, up, 0.5), check(ours20, tpe20, 0.5), check(ours, tpe1, 1.0)]
        lines.append(f"| {problem} | " + " | ".join(cells) + " |")
    lines.append("")
    return lines


def time_pool_1000(args: argparse.Namespace) -> dict[str, dict[str, float]]:
    """Steady-state ms/eval at pool 1000 per optimizer and problem (runs in subprocesses)."""
    out: dict[str, dict[str, float]] = {}
    jobs = []
    for optimizer in TIMED_AT_1000:
        python = python_for(optimizer == "upstream", args)
        if python is None:
            continue
        for problem in PROBLEMS:
            if optimizer == "tpe" and problem != "sphere":
                continue  # TPE's ask slows down with every trial: one problem, two generations
            jobs.append((optimizer, problem, python, 2000 if optimizer == "tpe" else 3000))

    def one(job: tuple[str, str, str, int]) -> tuple[str, str, float | None]:
        optimizer, problem, python, budget = job
        cmd = [python, str(HERE / "optimizers.py"), "--optimizer", optimizer, "--problem", problem,
               "--seeds", "0", "--budget", str(budget), "--pool", "1000", "--split-timing"]
        env = dict(os.environ, OPENBLAS_NUM_THREADS="1", OMP_NUM_THREADS="1", MKL_NUM_THREADS="1")
        done = subprocess.run(cmd, capture_output=True, text=True, env=env)
        if done.returncode:
            print(f"pool-1000 timing of {optimizer} on {problem} failed: {done.stderr[-500:]}", flush=True)
            return optimizer, problem, None
        rec = json.loads(done.stdout.splitlines()[-1])
        return optimizer, problem, 1000.0 * rec["cpu_after_first"] / (rec["evaluations"] - 1000)

    with ThreadPoolExecutor(args.jobs) as pool:
        for optimizer, problem, value in pool.map(one, jobs):
            print(f"pool 1000: {optimizer} on {problem}: {value}", flush=True)
            if value is not None:
                out.setdefault(optimizer, {})[problem] = value
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--python", default=sys.executable, help="Python with compileiq (ours) and optuna")
    parser.add_argument("--upstream-python", default=None, help="Python with compileiq==1.1.0")
    parser.add_argument("--seeds", type=int, default=20, help="reported instances: seeds 0..N-1")
    parser.add_argument("--tuning-seeds", default="100-119", help="instances of the pool-size sweep (A-B)")
    parser.add_argument("--budget", type=int, default=200)
    parser.add_argument("--jobs", type=int, default=2)
    parser.add_argument("--only", default="", help="comma-separated contender keys to (re)run")
    parser.add_argument("--report-only", action="store_true")
    parser.add_argument("--skip-pool-1000", action="store_true")
    args = parser.parse_args()
    results = HERE / "results"
    results.mkdir(exist_ok=True)
    notes: list[str] = []
    only = {k for k in args.only.split(",") if k}
    if not args.report_only:
        jobs = []
        for c in CONTENDERS + SWEEP_CONTENDERS:
            if only and c.key not in only:
                continue
            python = python_for(c.upstream, args)
            if python is None:
                continue
            seeds = args.tuning_seeds if c.key.startswith("sweep-") else f"0-{args.seeds - 1}"
            for problem in PROBLEMS:
                jobs.append((python, c.optimizer, problem, seeds, args.budget, c.pool,
                             results / f"{c.key}__{problem}.jsonl"))
        # the slowest jobs first, so the two workers finish together
        jobs.sort(key=lambda j: (j[1] != "tpe", j[1] != "upstream"))
        with ThreadPoolExecutor(args.jobs) as pool:
            for line in pool.map(lambda j: run_job(*j), jobs):
                print(line, flush=True)
        pack(results)
    reported = load(results / f"genetic-default__{next(iter(PROBLEMS))}.jsonl")
    args.seeds_count = len({r["seed"] for r in reported}) or args.seeds
    timings_path = HERE / "pool1000.json"
    if not args.report_only and not args.skip_pool_1000:
        timings_path.write_text(json.dumps(time_pool_1000(args)))
    timings = json.loads(timings_path.read_text()) if timings_path.exists() else {}
    if not any(load(results / f"upstream-20__{problem}.jsonl") for problem in PROBLEMS):
        notes += ["Upstream CompileIQ 1.1.0 was not run (no `--upstream-python`, or it could not be "
                  "installed): its rows say so.", ""]
    text = report(args, timings, notes)
    commentary = HERE / "commentary.md"
    if commentary.exists():
        text += "\n" + commentary.read_text()
    doc = ROOT / "docs" / "benchmarks.md"
    doc.parent.mkdir(exist_ok=True)
    doc.write_text(text)
    print(f"wrote {doc}")


if __name__ == "__main__":
    main()
