"""Asynchronous scheduling: keep `window` candidates in flight, ask for one more as each finishes.

The loop, the same live and when a journal is replayed: fill (ask the engine for one candidate
at a time, journal the ask, submit it) while fewer than `window` are in flight and the budget
allows; then take the next finished Score and process it (journal, hooks, `engine.tell`), then
fill again. The engine therefore sees the same tells before each ask whatever the timing, so a
run resumes exactly: replay consumes journaled asks during fills and journaled Scores (in arrival
order) as completions, then submits what was asked but never scored, then goes on live.

Budget: `generations × pool_size` successful evaluations, as in generational mode. A group of
`pool_size` successes is a generation: a Score's `generation` is the number of groups completed
before it; the hooks see `generation_start` when a group's first candidate is asked and
`generation_end` when the group completes. A failed evaluation is replaced by another ask
(at most `max_refill_batches × pool_size` failures per group, then the group closes short).
"""

from __future__ import annotations

import uuid
import warnings
from collections import deque
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from compileiq.engines.base import Evaluation
from compileiq.errors import SearchAbortedError, SearchSpaceExhaustedError, SearchSpaceExhaustedWarning
from compileiq.journal import JournalMismatchError
from compileiq.score import BASELINE_CONFIG, Score
from compileiq.search_spaces.space import Genome

if TYPE_CHECKING:
    from compileiq._driver import Driver

__all__ = ["AsynchronousLoop"]


@dataclass
class _InFlight:
    genome: Genome
    params: Any
    ask_seq: int
    submitted: bool


class AsynchronousLoop:
    """Runs a search with asynchronous scheduling through the worker's submission contract."""

    def __init__(self, driver: Driver, window: int) -> None:
        self.driver = driver
        self.window = max(1, int(window))
        config = driver.config
        self.pool_size = config.pool_size
        self.generations = config.generations
        self.budget = config.generations * config.pool_size
        self.in_flight: dict[str, _InFlight] = {}
        self.successes = 0
        self.completed = 0
        self.group = 0
        self.group_scores: list[Score] = []
        self.group_successes = 0
        self.group_failures = 0
        self.group_live = False
        self.started_groups: set[int] = set()
        self.exhausted = False
        self.arrived: deque[Score] = deque()
        self.baseline_keys: set[tuple[Any, Any]] = set()
        self.finished: deque[Score] = deque()
        """Collected Scores not yet processed (several can finish together; they are processed one by one)."""
        replay = driver.replay
        self.replay_asks = deque(replay.batches) if replay is not None else deque()
        self.replay_order = deque(replay.order) if replay is not None else deque()
        self.failure_cap = driver.max_refills * self.pool_size

    # -- the loop ----------------------------------------------------------------------------

    def run(self) -> None:
        driver = self.driver
        worker = driver.worker
        worker.score_sink = self.arrivals_sink  # before opening: a worker may report baselines there
        try:
            worker.open_submissions(
                function=driver.plan.objective, num_function_returns=driver.config.num_objectives,
                num_workers=driver.num_workers, task_timeout=driver.task_timeout, tracker=None,
                **driver.worker_kwargs,
            )
        except BaseException:
            worker.score_sink = driver._on_score
            raise
        try:
            self._baseline()
            while True:
                self._fill()
                if not self.in_flight:
                    break
                self._complete_next()
            self._baselines_arrived(self._drain())
            if self.replay_asks:
                raise JournalMismatchError(
                    f"The engine {driver.plan.engine_name!r} finished the search with {len(self.replay_asks)} "
                    f"journaled ask(s) never asked again; the journal {str(driver.journal.path)!r} does not match "
                    "this engine or configuration."
                )
        finally:
            worker.score_sink = driver.sink
            try:
                worker.cancel()
            finally:
                worker.close_submissions()

    def arrivals_sink(self, score: Score) -> None:
        """The worker's `score_sink` here: Scores queue, to be processed in arrival order."""
        self.arrived.append(score)

    # -- baseline ----------------------------------------------------------------------------

    def _baseline(self) -> None:
        driver, worker = self.driver, self.driver.worker
        if not driver.config.normalize or worker.baseline_score is not None or not worker.one_baseline_per_search:
            return  # a worker with a baseline per node or device (Ray) measures and reports its own
        worker.submit(dict(BASELINE_CONFIG), "baseline")
        measured: Score | None = None
        while measured is None:
            for score in [*self._drain(), *worker.collect(None)]:
                if score.param_id == "baseline":
                    measured = score
        self.arrived.clear()
        worker.score_sink = None  # ensure_baseline reports it: record it once, here
        try:
            [baseline] = worker.ensure_baseline(lambda: measured)
        finally:
            worker.score_sink = self.arrivals_sink
        driver._record(baseline, 0, None)

    def _baselines_arrived(self, scores: list[Score]) -> None:
        """Record each baseline a worker reported by itself (e.g. Ray's, one per node or GPU) once."""
        for score in scores:
            if not score.is_baseline:
                continue
            meta = score.metadata_dict
            key = (meta.get("node_id"), meta.get("gpu_id"))
            if key not in self.baseline_keys:
                self.baseline_keys.add(key)
                self.driver._record(score, self.group, None)

    def _drain(self) -> list[Score]:
        out = list(self.arrived)
        self.arrived.clear()
        return out

    # -- asking ------------------------------------------------------------------------------

    def _fill(self) -> None:
        driver = self.driver
        while (not self.exhausted and len(self.in_flight) < self.window
               and self.successes + len(self.in_flight) < self.budget and self.group < self.generations):
            engine = driver.engine
            engine.pending = tuple(item.genome for item in self.in_flight.values())
            generation = self.group  # the engine refits once per completed group, as per generation
            try:
                [genome] = engine.ask(1, generation)
            except SearchSpaceExhaustedError as exc:
                self.exhausted = True
                if self.completed == 0 and not self.in_flight:
                    raise SearchSpaceExhaustedError(
                        f"The search space cannot fill even the first candidate: {exc} Widen the space."
                    ) from None
                warnings.warn(
                    f"Ending the search after {self.group} of {self.generations} generations: the search "
                    f"space has no unseen configurations left ({exc})",
                    SearchSpaceExhaustedWarning,
                    stacklevel=5,
                )
                return
            driver._check_feasible([genome])
            params = driver.plan.space.decode(genome)
            if self.replay_asks:
                record = self.replay_asks.popleft()
                if record.generation != generation or [tuple(g) for g in record.genomes] != [tuple(genome)]:
                    raise JournalMismatchError(
                        f"Resuming {str(driver.journal.path)!r}: the engine {driver.plan.engine_name!r} proposed "
                        f"another candidate than the journal holds for ask #{record.seq} (generation "
                        f"{record.generation}). The engine is not deterministic for this seed, or its version "
                        "changed since the run began; resume with the engine version that started the run."
                    )
                pid, ask_seq, submitted = str(record.param_ids[0]), record.seq, False
            else:
                pid = uuid.uuid4().hex
                ask_seq = driver.journal.record_ask(generation, [genome], [pid])
                submitted = True
            self.in_flight[pid] = _InFlight(genome, params, ask_seq, submitted)
            if submitted:
                self._started(params)
                driver.worker.submit(params, pid)

    def _started(self, params: Any) -> None:
        """`generation_start` for the current group, at its first live submission."""
        if self.group in self.started_groups:
            return
        driver = self.driver
        self.started_groups.add(self.group)
        driver.plan.on_generation(self.group)
        driver.worker.current_generation = self.group
        driver.hooks.generation_start(driver.plan.subject, self.group, [params])

    # -- completing --------------------------------------------------------------------------

    def _complete_next(self) -> None:
        """Process the next finished candidate: a journaled one while replaying, else the worker's."""
        driver = self.driver
        if self.replay_order:
            pid = self.replay_order.popleft()
            if pid not in self.in_flight:
                raise JournalMismatchError(
                    f"Resuming {str(driver.journal.path)!r}: the journal holds a Score for {pid!r}, which this "
                    "replay has not asked for; the journal does not match this engine or configuration."
                )
            assert driver.replay is not None
            self._process(driver.replay.scores[pid], live=False)
            return
        worker = driver.worker
        if self.finished:
            self._process(self.finished.popleft(), live=True)
            return
        for pid, item in self.in_flight.items():  # asked before the interruption, never scored
            if not item.submitted:
                item.submitted = True
                self._started(item.params)
                worker.submit(item.params, pid)
        # One Score per call, then the loop fills again: the engine sees a tell, then an ask, for each
        # Score, however many finished together; that order is what a resume replays.
        while not self.finished:
            scores = [*self._drain(), *worker.collect(None)]
            scores += self._drain()
            for score in scores:
                if not isinstance(score, Score):
                    raise RuntimeError(
                        f"worker {driver.plan.worker_name!r} returned {score!r} ({type(score).__name__}) from "
                        "collect(); every item must be a compileiq Score."
                    )
                if score.is_baseline:
                    self._baselines_arrived([score])
                    continue
                if score.param_id not in self.in_flight:
                    continue
                if all(s.param_id != score.param_id for s in self.finished):  # reported and returned: once
                    self.finished.append(score)
        self._process(self.finished.popleft(), live=True)

    def _process(self, score: Score, live: bool) -> None:
        driver = self.driver
        item = self.in_flight.pop(str(score.param_id))
        if score.params is None:
            score.params = item.params
        group = self.group
        if live:
            driver._record(score, group, item.ask_seq)
            driver.failures.observe(score)
            self.group_live = True
        self.completed += 1
        if score.failed:
            driver.engine.tell([Evaluation(item.genome, None)])
            self.group_failures += 1
            if live and not driver._refill_warned:
                driver._refill_warned = True
                warnings.warn(
                    "A failed evaluation left a position of the current generation unfilled. The engine refills "
                    "it with another candidate; later refills are not warned about.",
                    UserWarning,
                    stacklevel=5,
                )
        else:
            self.successes += 1
            self.group_successes += 1
            values = score.values(normalized=driver.config.normalize)
            driver.engine.tell([Evaluation(item.genome, tuple(driver.sign * float(v) for v in values))])
        self.group_scores.append(score)
        if live:
            driver.journal.check_present()
            if driver.dump is not None:
                driver.dump.flush()
        if driver.plan.exit_on_failure and self.completed == self.pool_size and self.successes == 0:
            raise SearchAbortedError.first_generation_failed(self.group_scores, self.pool_size, driver.result())
        group_successes = self.group_successes
        if group_successes >= self.pool_size or self.group_failures > self.failure_cap:
            if group_successes < self.pool_size:
                warnings.warn(
                    f"Generation {group} stays {self.pool_size - group_successes} short of "
                    f"pool_size={self.pool_size} after {self.group_failures} failed evaluations; moving on.",
                    RuntimeWarning,
                    stacklevel=5,
                )
                self.budget -= self.pool_size - group_successes
            if self.group_live:
                driver.hooks.generation_end(driver.plan.subject, group, self.group_scores)
            self.group += 1
            self.group_scores = []
            self.group_successes = self.group_failures = 0
            self.group_live = False
