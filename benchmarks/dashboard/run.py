"""Dashboard benchmark: the time to open a 100,000-evaluation run, and the dashboard's cost to a
running search (its throughput with the dashboard watching, against without, side by side).

    python benchmarks/dashboard/run.py [--evaluations 100000] [--search-evaluations 20000]
                                       [--busy-evaluations 1000] [--repeats 3] [--json out.json]

1. Open: a real search writes a 100k-evaluation run; then, `--repeats` times, a fresh
   `compileiq dashboard` process is started and timed from a cold client: the page, its script,
   the run's metadata and all its rows (what the page fetches to open a run; `total`), then
   `/api/runs` (the runs list, its first summary of that run), and,
   where Chromium is installed, a headless browser from navigation until the run page shows
   100,000 evaluations with every plot and table drawn. Target: under 2 s. The CPU seconds the
   server (and the browser) used for it are reported too: on a loaded machine the wall time
   stretches, the CPU time does not.
2. Overhead: the same cheap search (sequential worker) is timed with nobody watching, with an API
   poller hitting the dashboard every 0.25 s (6x the page's own rate: the runs list, the run's
   metadata and its new rows), and with headless Chromium showing the run page (its own 1.5 s
   polling, re-rendering every plot), in alternating order. Reports evaluations/s and the ratio
   to the unwatched runs (once with a trivial objective, where the journal is the bottleneck:
   the worst case, and once with 5 ms of CPU per evaluation), and the CPU the dashboard's
   processes (server, poller or browser) used during the search, as a share of one core: on a
   loaded machine that CPU is what a search loses.
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import signal
import statistics
import subprocess
import sys
import tempfile
import time
import warnings
from pathlib import Path
from typing import Any

import compileiq.search_spaces.base as ss
from compileiq import INVALID_SCORE, EngineConfig, Search, SearchConfiguration

ROOT = Path(__file__).resolve().parents[2]
SPACE = {"block": ss.range(16, 1024, 16), "unroll": ss.choice([1, 2, 4, 8, 16]),
         "vector": ss.choice(["off", "sse", "avx2"]), "tile": ss.range(1, 64),
         "prefetch": ss.choice([True, False]), "order": ss.choice(["ijk", "ikj", "jik"])}


def objective(config: dict[str, Any]) -> Any:
    if config["tile"] % 17 == 0:
        return INVALID_SCORE
    return (config["block"] - 512) ** 2 / 1e4 + config["tile"] * 0.1 + config["unroll"] + len(config["vector"])


BUSY_MS = 5.0


def busy_objective(config: dict[str, Any]) -> Any:
    """`objective` after BUSY_MS of CPU work (a stand-in for compiling and timing a kernel)."""
    end = time.perf_counter() + BUSY_MS / 1000
    while time.perf_counter() < end:
        pass
    return objective(config)


def make_search(base: Path, evaluations: int, busy: bool = False) -> Search:
    pool = 1000 if evaluations >= 10_000 else 100
    return Search(objective_function=busy_objective if busy else objective, search_space=SPACE,
                  search_config=SearchConfiguration(generations=max(1, evaluations // pool), pool_size=pool),
                  worker_type="sequential", engine=EngineConfig("random", {"seed": 7}), cache_folder=base,
                  exit_on_failure=False, disable_progress_bar=True)


def start_server(folder: Path) -> tuple[subprocess.Popen, str]:
    proc = subprocess.Popen([sys.executable, "-m", "compileiq", "dashboard", "--folder", str(folder), "--port", "0"],
                            stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True, start_new_session=True)
    line = proc.stdout.readline()
    return proc, line.split(" at ")[1].split()[0]


def stop(proc: subprocess.Popen) -> None:
    os.killpg(proc.pid, signal.SIGTERM)
    proc.wait(timeout=30)
    if proc.stdout:
        proc.stdout.close()


def get(url: str, path: str) -> bytes:
    host, port = url.split("//")[1].rstrip("/").rsplit(":", 1)
    conn = http.client.HTTPConnection(host, int(port), timeout=120)
    try:
        conn.request("GET", path)
        response = conn.getresponse()
        body = response.read()
        if response.status != 200:
            raise RuntimeError(f"GET {path}: {response.status} {body[:200]!r}")
        return body
    finally:
        conn.close()


def open_run_api(url: str, run_id: str) -> dict[str, float]:
    """What the page fetches to open a run, in its order; seconds per step and in all."""
    times: dict[str, float] = {}
    start = time.perf_counter()
    for name, path in (("page", "/"), ("script", "/static/app.js"), ("meta", f"/api/runs/{run_id}/meta")):
        t = time.perf_counter()
        get(url, path)
        times[name] = time.perf_counter() - t
    t = time.perf_counter()
    after, rows, more = 0, 0, True
    while more:
        body = get(url, f"/api/runs/{run_id}/scores?after={after}")
        tail = json.loads(b"{" + body[body.rindex(b'"last"'):])  # the page's end; the rows are not parsed here
        rows += body.count(b"],[") + 1
        after, more = tail["last"], tail["more"]
    times["rows"] = time.perf_counter() - t
    times["total"] = time.perf_counter() - start
    t = time.perf_counter()
    get(url, "/api/runs")
    times["runs list"] = time.perf_counter() - t
    times["row_count"] = rows
    return times


def browser_available() -> bool:
    sys.path.insert(0, str(ROOT / "tests"))
    import browser_support

    return browser_support.missing_reason() is None


def start_browser(profile: Path) -> Any:
    import browser_support

    return browser_support.start_chromium(profile)


def open_run_browser(driver: Any, url: str, run_id: str, evaluations: int) -> dict[str, float]:
    """Seconds from navigation until the run page shows every evaluation with its plots drawn."""
    driver.get("about:blank")
    start = time.perf_counter()
    driver.get(f"{url}#/run/{run_id}")
    while True:
        done = driver.execute_script(
            "const n = document.getElementById('eval-count');"
            "return n && Number(n.textContent) === arguments[0] && "
            "!!document.querySelector(\"svg[data-plot='best-vs-time'] path[data-series=evaluation]\") && "
            "!!document.querySelector('#best-table') && !!document.querySelector('svg[data-plot=importance]') "
            "? [window.__fetchMs, window.__timings] : null;", evaluations)
        if done is not None:
            out = {"browser_total": time.perf_counter() - start, "fetch+parse_ms": float(done[0])}
            out.update({f"draw {k}_ms": float(v) for k, v in done[1].items()})
            return out
        if time.perf_counter() - start > 120:
            raise RuntimeError("the run page did not show the run within 120 s")
        time.sleep(0.02)


def bench_open(evaluations: int, repeats: int, use_browser: bool) -> dict[str, Any]:
    with tempfile.TemporaryDirectory() as tmp:
        base = Path(tmp) / "runs"
        t = time.perf_counter()
        search = make_search(base, evaluations)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            result = search.start()
        build_s = time.perf_counter() - t
        run_id = search.cache_folder.name
        count = int((~result.df_results["is_baseline"].astype(bool)).sum())
        size = sum(p.stat().st_size for p in search.cache_folder.iterdir() if p.is_file())
        samples = []
        driver = start_browser(Path(tmp) / "profile") if use_browser else None
        try:
            for _ in range(repeats):
                proc, url = start_server(base)
                try:
                    cpu = tree_cpu(proc.pid)
                    sample = open_run_api(url, run_id)
                    sample["server_cpu"] = tree_cpu(proc.pid) - cpu
                    if driver is not None:
                        roots = (proc.pid, driver.service.process.pid)
                        cpu = tree_cpu(*roots)
                        sample.update(open_run_browser(driver, url, run_id, count))
                        sample["browser+server_cpu"] = tree_cpu(*roots) - cpu
                    samples.append(sample)
                finally:
                    stop(proc)
        finally:
            if driver is not None:
                driver.quit()
        keys = [k for k in samples[0] if k != "row_count"]
        return {"evaluations": count, "journal_mib": round(size / 2**20, 1), "build_s": round(build_s, 1),
                "median_s": {k: round(statistics.median(s[k] for s in samples), 3) for k in keys},
                "max_s": {k: round(max(s[k] for s in samples), 3) for k in keys},
                "rows_served": samples[0]["row_count"]}


def tree_cpu(*roots: int) -> float:
    """CPU seconds (user + system) used so far by the live processes `roots` and their descendants (Linux)."""
    tick = os.sysconf("SC_CLK_TCK")
    stats: dict[int, tuple[int, float]] = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
            except OSError:
                continue
            stats[int(entry.name)] = (int(fields[1]), (int(fields[11]) + int(fields[12])) / tick)
    wanted, total = set(roots), 0.0
    changed = True
    while changed:
        changed = False
        for pid, (ppid, _) in stats.items():
            if ppid in wanted and pid not in wanted:
                wanted.add(pid)
                changed = True
    for pid in wanted:
        total += stats.get(pid, (0, 0.0))[1]
    return total


def poller(url: str, run_id: str, interval: float) -> None:
    """The page's requests, at `interval`, until killed: runs list, the run's metadata, its new rows."""
    after = 0
    while True:
        try:
            get(url, "/api/runs")
            get(url, f"/api/runs/{run_id}/meta")
            page = json.loads(get(url, f"/api/runs/{run_id}/scores?after={after}"))
            after = page["last"]
        except (RuntimeError, OSError):
            pass  # the journal may not exist yet
        time.sleep(interval)


def bench_overhead(evaluations: int, repeats: int, use_browser: bool, busy: bool = False) -> dict[str, Any]:
    modes = ["none", "api poller (0.25 s)"] + (["browser (run page)"] if use_browser else [])
    rates: dict[str, list[float]] = {m: [] for m in modes}
    cpu_share: dict[str, list[float]] = {m: [] for m in modes}
    with tempfile.TemporaryDirectory() as tmp:
        base = Path(tmp) / "runs"
        proc, url = start_server(base)
        driver = start_browser(Path(tmp) / "profile") if use_browser else None
        try:
            warm = make_search(base, min(evaluations, 2000))  # imports and first-run costs, not timed
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                warm.start()
            for repeat in range(repeats):
                for mode in (modes if repeat % 2 == 0 else modes[::-1]):
                    search = make_search(base, evaluations, busy)
                    run_id = search.cache_folder.name
                    watcher = None
                    if mode.startswith("api"):  # its own process, as a browser would be
                        watcher = subprocess.Popen([sys.executable, __file__, "--poll", url, run_id, "0.25"],
                                                   start_new_session=True)
                    elif mode.startswith("browser"):
                        driver.get(f"{url}#/run/{run_id}")
                    try:
                        roots = [proc.pid] + ([watcher.pid] if watcher else []) + (
                            [driver.service.process.pid] if mode.startswith("browser") else [])
                        cpu = tree_cpu(*roots)
                        t = time.perf_counter()
                        with warnings.catch_warnings():
                            warnings.simplefilter("ignore")
                            result = search.start()
                        elapsed = time.perf_counter() - t
                        cpu_share[mode].append((tree_cpu(*roots) - cpu) / elapsed)
                    finally:
                        if watcher:
                            stop(watcher)
                    if driver is not None:
                        driver.get("about:blank")
                    rates[mode].append(len(result.df_results) / elapsed)
        finally:
            if driver is not None:
                driver.quit()
            stop(proc)
    base_rate = statistics.median(rates["none"])
    return {"evaluations_per_search": evaluations, "repeats": repeats,
            "evals_per_s": {m: [round(r) for r in v] for m, v in rates.items()},
            "median_evals_per_s": {m: round(statistics.median(v)) for m, v in rates.items()},
            "throughput_ratio": {m: round(statistics.median(v) / base_rate, 3) for m, v in rates.items()},
            "dashboard_cpu_share": {m: round(statistics.median(v), 3) for m, v in cpu_share.items()}}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--evaluations", type=int, default=100_000)
    parser.add_argument("--search-evaluations", type=int, default=20_000)
    parser.add_argument("--busy-evaluations", type=int, default=1000)
    parser.add_argument("--parts", default="open,trivial,busy", help="which measurements, comma-separated")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--no-browser", action="store_true", help="API timings only")
    parser.add_argument("--json", help="also write the figures to this file")
    parser.add_argument("--poll", nargs=3, metavar=("URL", "RUN_ID", "INTERVAL"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.poll:
        poller(args.poll[0], args.poll[1], float(args.poll[2]))
        return
    use_browser = not args.no_browser and browser_available()
    if not use_browser:
        print("(no browser: Chromium, chromedriver or selenium missing, or --no-browser; API figures only)")
    print(f"load average before: {' '.join(f'{x:.1f}' for x in os.getloadavg())} on {os.cpu_count()} CPUs")
    parts = set(args.parts.split(","))
    opened = bench_open(args.evaluations, args.repeats, use_browser) if "open" in parts else None
    if opened:
        print(f"open a {opened['evaluations']}-evaluation run ({opened['journal_mib']} MiB journal, built in "
          f"{opened['build_s']} s), cold server, median of {args.repeats}:")
        for key, value in opened["median_s"].items():
            unit = "ms" if key.endswith("_ms") else ("s CPU" if key.endswith("_cpu") else "s ")
            print(f"  {key:<16} {value:8.3f} {unit}  (max {opened['max_s'][key]:.3f} {unit})")
    overheads = {}
    for busy, count in ((False, args.search_evaluations), (True, args.busy_evaluations)):
        if ("busy" if busy else "trivial") not in parts:
            continue
        overhead = overheads["busy" if busy else "trivial"] = bench_overhead(count, args.repeats, use_browser, busy)
        kind = f"{BUSY_MS:g} ms of CPU per evaluation" if busy else "a trivial objective: journal-bound, the worst case"
        print(f"search throughput ({count} evaluations, sequential worker, {kind}), median of {args.repeats}:")
        for mode, rate in overhead["median_evals_per_s"].items():
            print(f"  {mode:<22} {rate:8d} evaluations/s   ratio {overhead['throughput_ratio'][mode]:.3f}   "
                  f"dashboard CPU {100 * overhead['dashboard_cpu_share'][mode]:5.1f} % of a core   "
                  f"runs {overhead['evals_per_s'][mode]}")
    print(f"load average after: {' '.join(f'{x:.1f}' for x in os.getloadavg())}")
    if args.json:
        Path(args.json).write_text(json.dumps({"open": opened, "overhead": overheads}, indent=2))


if __name__ == "__main__":
    main()
