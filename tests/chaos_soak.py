"""The chaos soak: searches through every process worker while the objective injects every fault
the conformance kit knows (plus output floods and memory hogs) and the driver is SIGKILLed at
random moments, then resumed, until each search completes.

Run as a script (`python tests/chaos_soak.py --minutes 10`, or `nox -s soak`); prints a JSON
summary and exits 1 when an invariant breaks. Checked after every driver session:

- every journaled evaluation is there exactly once, and none journaled before is lost;
- the journal is a prefix of an uninterrupted run of the same search (same asks, same scores);
  when the search completes it is that run, whole;
- live processes (all descendants but the drivers) never exceed `num_workers + SLACK`;
- nothing is left once a driver is gone.

Bounds: the whole soak runs in a pids cgroup of its own (cgroup v1 or v2) where one can be made,
and always under a subreaper (orphans stay ours) with a deadline that kills everything.
"""

from __future__ import annotations

import argparse
import ctypes
import json
import os
import random
import resource
import shutil
import signal
import sqlite3
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from pathlib import Path
from typing import Any

TESTS = Path(__file__).resolve().parent
sys.path.insert(0, str(TESTS))

SLACK = 3
"""Processes allowed beyond num_workers: the forkserver, the resource tracker, one replacement."""
PIDS_MAX = 256
ORPHAN_GRACE_S = 15.0
FILE_LIMIT = 256 << 20
"""RLIMIT_FSIZE of every driver and what it starts (bytes)."""
DISK_LIMIT = 2 << 30
"""The soak stops (a violation) when its working folder grows past this (bytes)."""
WORKERS = ("multiprocess", "isolated")

DRIVER = """
import sys
sys.path.insert(0, {tests!r})
import fault_objectives
import compileiq.search_spaces.base as ss
from compileiq import EngineConfig, Search, SearchConfiguration

if __name__ == "__main__":
    mode, where, worker, ctl, seed, gens, pool, workers, timeout = sys.argv[1:10]
    if mode == "fresh":
        search = Search(objective_function=fault_objectives.chaotic,
                        search_space={{"x": ss.range(0, 100), "y": ss.range(0, 20), "ctl": ss.choice([ctl])}},
                        search_config=SearchConfiguration(generations=int(gens), pool_size=int(pool)),
                        worker_type=worker, engine=EngineConfig("genetic", {{"seed": int(seed)}}),
                        cache_folder=where, exit_on_failure=False, disable_progress_bar=True)
    else:
        search = Search.resume(where, objective_function=fault_objectives.chaotic)
    search.start(num_workers=int(workers), task_timeout=float(timeout))
"""


# -- bounds -----------------------------------------------------------------------------------


def _cgroup_root() -> tuple[Path, str] | None:
    v1 = Path("/sys/fs/cgroup/pids")
    if (v1 / "cgroup.procs").exists():
        return v1, "v1"
    v2 = Path("/sys/fs/cgroup")
    if (v2 / "cgroup.controllers").exists() and "pids" in (v2 / "cgroup.controllers").read_text():
        return v2, "v2"
    return None


def run_bounded(argv: list[str], deadline_s: float) -> int:
    """Run this script again (with `--inner`) in a fresh pids cgroup, killing the whole cgroup at the end."""
    found = _cgroup_root()
    group: Path | None = None
    if found is not None:
        group = found[0] / f"compileiq-chaos-{os.getpid()}"
        try:
            group.mkdir()
            (group / "pids.max").write_text(str(PIDS_MAX))
        except OSError:
            group = None

    def join() -> None:
        if group is not None:
            (group / "cgroup.procs").write_text(str(os.getpid()))

    env = {**os.environ, "CHAOS_PIDS_CGROUP": str(group or "")}
    proc = subprocess.Popen([sys.executable, __file__, "--inner", *argv], preexec_fn=join,  # noqa: PLW1509
                            start_new_session=True, env=env)
    try:
        return proc.wait(timeout=deadline_s)
    except subprocess.TimeoutExpired:
        print(f"chaos soak: still running after {deadline_s:.0f} s; killed", file=sys.stderr)
        return 124
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
        if group is not None:
            for _ in range(100):
                pids = [int(p) for p in (group / "cgroup.procs").read_text().split()]
                if not pids:
                    break
                for pid in pids:
                    try:
                        os.kill(pid, signal.SIGKILL)
                    except ProcessLookupError:
                        pass
                time.sleep(0.05)
            try:
                group.rmdir()
            except OSError as exc:
                print(f"chaos soak: cannot remove {group}: {exc}", file=sys.stderr)


def _become_subreaper() -> None:
    try:
        ctypes.CDLL(None, use_errno=True).prctl(36, 1, 0, 0, 0)  # PR_SET_CHILD_SUBREAPER
    except (AttributeError, OSError):
        pass


# -- watching processes -------------------------------------------------------------------------


class Sampler(threading.Thread):
    """Samples the process tree every few ms: the peak count beside the drivers; reaps orphans."""

    def __init__(self, work: Path | None = None) -> None:
        super().__init__(name="chaos-sampler", daemon=True)
        self.work = work
        self.peak_disk = 0
        self.overflow = False
        from compileiq.testing.processes import descendants

        self._descendants = descendants
        self.drivers: set[int] = set()
        self.peak = 0
        self.peak_detail: dict[int, str] = {}
        self.samples = 0
        self._done = threading.Event()

    def others(self) -> dict[int, str]:
        return {p: c for p, c in self._descendants(include_helpers=True).items() if p not in self.drivers}

    def run(self) -> None:
        checked = 0.0
        while not self._done.wait(0.02):
            if self.work is not None and time.monotonic() - checked > 1.0:
                checked = time.monotonic()
                size = sum(f.stat().st_size for f in self.work.rglob("*") if f.is_file())
                self.peak_disk = max(self.peak_disk, size)
                if size > DISK_LIMIT:
                    self.overflow = True
                    for pid in list(self.others()) + list(self.drivers):
                        try:
                            os.kill(pid, signal.SIGKILL)
                        except ProcessLookupError:
                            pass
            found = self.others()
            self.samples += 1
            if len(found) > self.peak:
                self.peak, self.peak_detail = len(found), found
            self._reap()

    def _reap(self) -> None:
        """Reap zombies re-parented to us (we are their subreaper), never a driver Popen still owns."""
        try:
            kids = Path(f"/proc/{os.getpid()}/task/{os.getpid()}/children").read_text().split()
        except OSError:
            return
        for pid in map(int, kids):
            if pid in self.drivers:
                continue
            try:
                os.waitpid(pid, os.WNOHANG)
            except ChildProcessError:
                pass

    def stop(self) -> None:
        self._done.set()
        self.join()


# -- journals -----------------------------------------------------------------------------------


def read_journal(folder: Path) -> tuple[list[tuple[int, list]], dict[tuple[int, int], tuple[int, Any]], list[str]]:
    """(asks as (generation, genomes), {(ask index, position): (failed, score)}, param ids in order)."""
    conn = sqlite3.connect(f"{(folder / 'journal.sqlite').resolve().as_uri()}?mode=ro", uri=True)
    try:
        rows = conn.execute("SELECT seq, generation, genomes, param_ids FROM asks ORDER BY seq").fetchall()
        index = {seq: i for i, (seq, *_rest) in enumerate(rows)}
        asks = [(g, json.loads(gs)) for _, g, gs, _ in rows]
        where = {pid: (index[seq], pos) for seq, _, _, ids in rows for pos, pid in enumerate(json.loads(ids))}
        scores: dict[tuple[int, int], tuple[int, Any]] = {}
        order: list[str] = []
        for pid, failed, score in conn.execute(
            "SELECT param_id, failed, score FROM scores WHERE is_baseline = 0 ORDER BY seq"
        ):
            order.append(pid)
            if pid not in where:
                raise AssertionError(f"score {pid} belongs to no journaled ask")
            scores[where[pid]] = (failed, None if failed else json.loads(score))
    finally:
        conn.close()
    return asks, scores, order


def reference_run(ctl: Path, seed: int, gens: int, pool: int, base: Path) -> tuple[list, dict]:
    """The uninterrupted run: the same search, scored as the process workers score it, in-process."""
    import warnings

    import fault_objectives

    import compileiq.search_spaces.base as ss
    from compileiq import EngineConfig, Search, SearchConfiguration

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        search = Search(objective_function=fault_objectives.chaotic_dry,
                        search_space={"x": ss.range(0, 100), "y": ss.range(0, 20), "ctl": ss.choice([str(ctl)])},
                        search_config=SearchConfiguration(generations=gens, pool_size=pool),
                        worker_type="sequential", engine=EngineConfig("genetic", {"seed": seed}),
                        cache_folder=base, exit_on_failure=False, disable_progress_bar=True)
        search.start()
    asks, scores, _ = read_journal(search.cache_folder)
    return asks, scores


# -- one search, killed and resumed until it completes -------------------------------------------


class Soak:
    def __init__(self, args: argparse.Namespace, work: Path) -> None:
        self.args = args
        self.work = work
        self.rng = random.Random(args.seed)
        self.sampler = Sampler(work)
        self.driver = work / "driver.py"
        self.driver.write_text(DRIVER.format(tests=str(TESTS)))
        self.figures: Counter[str] = Counter()
        self.faults: Counter[str] = Counter()
        self.violations: list[str] = []

    def fail(self, message: str) -> None:
        self.violations.append(message)
        print(f"chaos soak: VIOLATION: {message}", file=sys.stderr, flush=True)

    def _wait_gone(self, what: str) -> None:
        """Nothing may be left once a driver is gone (its pool dies with it)."""
        deadline = time.monotonic() + ORPHAN_GRACE_S
        while (left := self.sampler.others()) and time.monotonic() < deadline:
            time.sleep(0.05)
        if left:
            self.fail(f"{len(left)} process(es) left {ORPHAN_GRACE_S:.0f} s after {what}: {left}")
            for pid in left:
                try:
                    os.kill(pid, signal.SIGKILL)
                except ProcessLookupError:
                    pass

    def _session(self, argv: list[str], log: Path, kill_after: float | None) -> tuple[bool, int]:
        def limit_files() -> None:  # a runaway writer fails instead of filling a shared disk
            resource.setrlimit(resource.RLIMIT_FSIZE, (FILE_LIMIT, FILE_LIMIT))

        if log.exists() and log.stat().st_size > FILE_LIMIT // 2:
            log.write_bytes(b"")  # output floods accumulate here: keep only recent sessions'
        with open(log, "ab") as out:
            proc = subprocess.Popen([sys.executable, str(self.driver), *argv], stdout=out, stderr=out,
                                    preexec_fn=limit_files,  # noqa: PLW1509
                                    env={**os.environ, "COMPILEIQ_PROGRESS": "0", "PYTHONWARNINGS": "ignore"})
        self.sampler.drivers.add(proc.pid)
        try:
            try:
                proc.wait(timeout=kill_after)
                return False, proc.returncode
            except subprocess.TimeoutExpired:
                proc.send_signal(signal.SIGKILL)
                proc.wait()
                return True, proc.returncode
            finally:
                self._wait_gone(f"driver {proc.pid} ended")
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.wait()
            self.sampler.drivers.discard(proc.pid)

    def search(self, worker: str, number: int) -> None:
        a = self.args
        seed = a.seed * 1000 + number
        home = self.work / f"search-{number}-{worker}"
        home.mkdir()
        ctl = home / "ctl.json"
        ctl.write_text(json.dumps({"seed": seed, "rate": a.fault_rate, "hang_s": 120, "work_s": 0.01,
                                   "flood_bytes": 1 << 20, "hog_bytes": a.hog_mb << 20}))
        ref_asks, ref_scores = reference_run(ctl, seed, a.generations, a.pool_size, home / "reference")
        base = home / "runs"
        common = [worker, str(ctl), str(seed), str(a.generations), str(a.pool_size), str(a.num_workers),
                  str(a.task_timeout)]
        folder: Path | None = None
        seen: dict[tuple[int, int], tuple[int, Any]] = {}
        kills = 0
        for _ in range(a.max_kills + 2):
            kill_after = self.rng.uniform(a.kill_min_s, a.kill_max_s) if kills < a.max_kills else None
            argv = ["fresh", str(base), *common] if folder is None else ["resume", str(folder), *common]
            killed, code = self._session(argv, home / "driver.log", kill_after)
            self.figures["sessions"] += 1
            self.figures["resumes"] += int(folder is not None)
            kills += killed
            self.figures["driver_kills"] += killed
            if not killed and code != 0:
                self.fail(f"{worker} search {number}: driver exited with {code}; see {home / 'driver.log'}")
                return
            folders = sorted(p for p in base.iterdir() if p.is_dir()) if base.is_dir() else []
            if len(folders) > 1:
                self.fail(f"{worker} search {number}: {len(folders)} run folders in {base}")
            complete = [f for f in folders if self._has_journal(f)]
            if not complete:  # killed before the journal's first commit: nothing began
                self.figures["killed_before_the_journal"] += 1
                for f in folders:
                    for child in f.iterdir():
                        child.unlink()
                    f.rmdir()
                continue
            folder = complete[0]
            self._check(worker, number, folder, ref_asks, ref_scores, seen, final=not killed)
            if not killed:
                break
        else:
            self.fail(f"{worker} search {number}: not complete after {a.max_kills + 2} sessions")
        self._count_faults(ctl)
        self.figures["searches"] += 1
        self.figures[f"searches_{worker}"] += 1

    @staticmethod
    def _has_journal(folder: Path) -> bool:
        try:
            conn = sqlite3.connect(f"{(folder / 'journal.sqlite').resolve().as_uri()}?mode=ro", uri=True)
            try:
                return conn.execute("SELECT COUNT(*) FROM meta").fetchone()[0] > 0
            finally:
                conn.close()
        except sqlite3.Error:
            return False

    def _check(self, worker: str, number: int, folder: Path, ref_asks: list, ref_scores: dict,
               seen: dict, final: bool) -> None:
        asks, scores, order = read_journal(folder)
        where = f"{worker} search {number}"
        if len(order) != len(set(order)):
            self.fail(f"{where}: {len(order) - len(set(order))} evaluation(s) journaled twice")
        if asks != ref_asks[: len(asks)]:
            self.fail(f"{where}: the asks differ from the uninterrupted run's")
        wrong = {k: v for k, v in scores.items() if ref_scores.get(k) != v}
        if wrong:
            self.fail(f"{where}: {len(wrong)} score(s) differ from the uninterrupted run's: {list(wrong.items())[:3]}")
        lost = [k for k in seen if k not in scores]
        self.figures["evaluations_lost"] += len(lost)
        if lost:
            self.fail(f"{where}: {len(lost)} journaled evaluation(s) lost")
        seen.clear()
        seen.update(scores)
        if final:
            if asks != ref_asks or scores != ref_scores:
                self.fail(f"{where}: the completed search is not the uninterrupted run "
                          f"({len(asks)}/{len(ref_asks)} asks, {len(scores)}/{len(ref_scores)} scores)")
            self.figures["evaluations_journaled"] += len(scores)

    def _count_faults(self, ctl: Path) -> None:
        starts = ctl.with_suffix(".starts")
        if not starts.exists():
            return
        keys = [json.loads(line) for line in starts.read_text().splitlines() if line.strip()]
        self.figures["evaluations_started"] += len(keys)
        self.figures["evaluations_repeated"] += len(keys) - len({tuple(k[:2]) for k in keys})
        self.faults.update(k[2] for k in keys if k[2] != "-")

    def run(self) -> dict[str, Any]:
        self.sampler.start()
        started = time.monotonic()
        number = 0
        try:
            while True:
                for worker in self.args.workers:
                    self.search(worker, number)
                    number += 1
                if time.monotonic() - started >= self.args.minutes * 60 or self.violations:
                    break
        finally:
            self.sampler.stop()
        if self.sampler.overflow:
            self.fail(f"the soak's folder grew past {DISK_LIMIT >> 20} MiB; everything was killed")
        limit = self.args.num_workers + SLACK
        if self.sampler.peak > limit:
            self.fail(f"{self.sampler.peak} live processes (limit {limit}): {self.sampler.peak_detail}")
        return {
            "seconds": round(time.monotonic() - started, 1),
            "workers": list(self.args.workers),
            "num_workers": self.args.num_workers,
            **dict(sorted(self.figures.items())),
            "faults_injected": dict(sorted(self.faults.items())),
            "faults_injected_total": sum(self.faults.values()),
            "peak_processes": self.sampler.peak,
            "process_limit": limit,
            "process_samples": self.sampler.samples,
            "peak_disk_mib": round(self.sampler.peak_disk / 2**20, 1),
            "pids_cgroup": os.environ.get("CHAOS_PIDS_CGROUP") or None,
            "violations": self.violations,
        }


def parse(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--minutes", type=float, default=10.0, help="keep starting searches for this long")
    parser.add_argument("--workers", nargs="+", default=list(WORKERS), choices=WORKERS)
    parser.add_argument("--seed", type=int, default=20261201)
    parser.add_argument("--generations", type=int, default=6)
    parser.add_argument("--pool-size", type=int, default=8)
    parser.add_argument("--num-workers", type=int, default=2)
    parser.add_argument("--task-timeout", type=float, default=3.0)
    parser.add_argument("--fault-rate", type=float, default=0.3, help="share of candidates given a fault")
    parser.add_argument("--hog-mb", type=int, default=200, help="memory a hog touches, MB")
    parser.add_argument("--max-kills", type=int, default=4, help="driver SIGKILLs per search at most")
    parser.add_argument("--kill-min-s", type=float, default=0.5)
    parser.add_argument("--kill-max-s", type=float, default=5.0)
    parser.add_argument("--json", help="also write the summary here")
    parser.add_argument("--work", help="the folder to work in (default: the system's temporary folder)")
    parser.add_argument("--keep", action="store_true", help="keep the working folder (run folders, driver logs)")
    parser.add_argument("--inner", action="store_true", help=argparse.SUPPRESS)
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    args = parse(argv)
    if not args.inner:  # bound everything: a pids cgroup (where possible) and a deadline
        return run_bounded(argv, deadline_s=args.minutes * 60 + 600)
    _become_subreaper()
    work = Path(tempfile.mkdtemp(prefix="compileiq-chaos-", dir=args.work))
    try:
        summary = Soak(args, work).run()
    finally:
        if not args.keep:
            shutil.rmtree(work, ignore_errors=True)
    text = json.dumps(summary, indent=2)
    print(text, flush=True)
    if args.json:
        Path(args.json).write_text(text + "\n")
    return 1 if summary["violations"] else 0


if __name__ == "__main__":
    sys.exit(main())
