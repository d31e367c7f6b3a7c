"""The generation loop behind `Search.start()`: ask, run, check, record, tell, refill."""

from __future__ import annotations

import gc
import os
import warnings
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any

from compileiq.engines.base import Evaluation
from compileiq.errors import SearchAbortedError, SearchSpaceExhaustedError, SearchSpaceExhaustedWarning
from compileiq.evaluation import FailureWarnings
from compileiq.journal import AskRecord, Journal, JournalError, JournalMismatchError
from compileiq.plugins import get_plugin_manager
from compileiq.score import Score
from compileiq.search_spaces.space import Genome
from compileiq.types import ProblemType

if TYPE_CHECKING:
    from compileiq._dump import ResultsDump
    from compileiq._run import RunPlan
    from compileiq.results import SearchResult


def _ids_text(ids: Sequence[Any], limit: int = 5) -> str:
    shown = ", ".join(repr(i) for i in list(ids)[:limit])
    return shown + (f" and {len(ids) - limit} more" if len(ids) > limit else "")


_VARIANT = {digit: "89ab"[int(digit, 16) & 3] for digit in "0123456789abcdef"}
"""A random hex digit -> the RFC 4122 variant digit (binary 10xx) carrying its two low bits."""


def new_ids(n: int) -> list[str]:
    """`n` random version-4 UUIDs as 32 hex digits, as `uuid.uuid4().hex` gives (cut from one hex
    string, without an integer or a UUID object each: this runs for every candidate)."""
    text, variant = os.urandom(16 * n).hex(), _VARIANT
    return [text[i:i + 12] + "4" + text[i + 13:i + 16] + variant[text[i + 16]] + text[i + 17:i + 32]
            for i in range(0, 32 * n, 32)]


@contextmanager
def _older_objects_frozen() -> Iterator[None]:
    """Leave the objects that exist when the search starts (pandas, numpy, the user's data: tens
    of thousands) out of the garbage collector's passes until it ends (`gc.freeze()`).

    A full collection walks every tracked object, about 60 ms with pandas loaded, and the
    Scores a search keeps trigger one every few thousand candidates; meanwhile no process gets
    a new candidate. Frozen, those objects are not walked; the search's own objects are
    collected as before, and anything of the older ones that became garbage is collected after
    the search. Nothing is done when objects are frozen already (the application manages it) or
    the collector is off."""
    if not gc.isenabled() or gc.get_freeze_count():
        yield
        return
    gc.freeze()
    try:
        yield
    finally:
        gc.unfreeze()


class _Sink:
    """A worker's `score_sink`: one Score (`sink(score)`), or several that finished together
    (`sink.many(scores)`, one journal transaction; see `BaseWorker.report_scores`)."""

    __slots__ = ("_one", "many")

    def __init__(self, one: Callable[[Score], None], many: Callable[[list[Score]], None]) -> None:
        self._one = one
        self.many = many

    def __call__(self, score: Score) -> None:
        self._one(score)


class _Hooks:
    """Typed facade over the pluggy hooks; skips hooks nobody implements."""

    def __init__(self) -> None:
        hook = get_plugin_manager().hook
        self._start = hook.compileiq_search_start
        self._evaluation = hook.compileiq_evaluation
        self._generation_start = hook.compileiq_generation_start
        self._generation_end = hook.compileiq_generation_end
        self._end = hook.compileiq_search_end
        self.wants_evaluations = bool(self._evaluation.get_hookimpls())

    def search_start(self, search: Any, run_info: dict[str, Any]) -> None:
        self._start(search=search, run_info=run_info)

    def evaluation(self, search: Any, score: Score, generation: int) -> None:
        self._evaluation(search=search, score=score, generation=generation)

    def generation_start(self, search: Any, generation: int, params_pool: Sequence[Any]) -> None:
        self._generation_start(search=search, generation=generation, params_pool=params_pool)

    def generation_end(self, search: Any, generation: int, scores: Sequence[Score]) -> None:
        self._generation_end(search=search, generation=generation, scores=scores)

    def search_end(self, search: Any, result: SearchResult | None, error: BaseException | None) -> None:
        self._end(search=search, result=result, error=error)


class _Replay:
    """What a journal says happened, consumed batch by batch while the engine is rebuilt."""

    def __init__(self, journal: Journal) -> None:
        self.batches = journal.asks()
        self.scores: dict[str, Score] = {}
        self.order: list[str] = []
        """Candidates' param_ids in the order their Scores arrived (what asynchronous replay follows)."""
        self.baseline: Score | None = None
        self.evaluations = 0
        self.failures = 0
        for score in journal.scores():
            if score.is_baseline:
                self.baseline = self.baseline or score
            elif str(score.param_id) not in self.scores:
                self.scores[str(score.param_id)] = score
                self.order.append(str(score.param_id))
                self.evaluations += 1
                self.failures += int(score.failed)
        self.position = 0

    def next(self) -> AskRecord | None:
        if self.position >= len(self.batches):
            return None
        batch = self.batches[self.position]
        self.position += 1
        return batch

    @property
    def active(self) -> bool:
        return self.position < len(self.batches)


class _Arrivals:
    """The candidates of the batch in flight and the Scores recorded for it (by param_id)."""

    def __init__(self, issued: dict[Any, Any], generation: int, ask_seq: int) -> None:
        self.issued = issued
        self.generation = generation
        self.ask_seq = ask_seq
        self.scores: dict[Any, Score] = {}
        self.baselines: set[tuple[Any, Any]] = set()


class Driver:
    """Runs one `start()`: asks the engine, dispatches to the worker, records each Score (journal,
    hooks) and tells the engine; replays a journal to resume. It sees only its `RunPlan`."""

    def __init__(self, plan: RunPlan, *, num_workers: int, task_timeout: float | None,
                 worker_kwargs: dict[str, Any], journal: Journal, resume: bool = False) -> None:
        self.plan = plan
        self.config = plan.config
        self.worker = plan.worker
        self.num_workers = num_workers
        self.task_timeout = task_timeout
        self.worker_kwargs = worker_kwargs
        self.journal = journal
        self.sign = -1.0 if self.config.problem_type is ProblemType.MAX else 1.0
        self.failures = FailureWarnings()
        self.hooks = _Hooks()
        self.engine = plan.engine
        self.replay = _Replay(journal) if resume else None
        self._result_cache: SearchResult | None = None
        self._refill_warned = False
        self._arrivals: _Arrivals | None = None
        self.sink = _Sink(self._on_score, self._on_scores)
        """What the worker's `score_sink` is while this driver runs."""
        self.dump: ResultsDump | None = None
        if plan.dump_results is not None:
            from compileiq._dump import ResultsDump

            self.dump = ResultsDump(plan.dump_results, self.config.num_objectives, self.config.normalize,
                                    float(journal.meta().get("created", 0.0)),
                                    existing=journal.result() if resume else None)

    # -- the loop --------------------------------------------------------------------------

    def run(self) -> SearchResult:
        """Run the search to its end (or its error) and return its result."""
        with _older_objects_frozen():  # the result is built in there too: pandas' objects are many
            return self._run()

    def _run(self) -> SearchResult:
        plan = self.plan
        search = plan.subject
        error: BaseException | None = None
        replay = self.replay
        if replay is not None and replay.baseline is not None and self.config.normalize:
            self.worker.baseline_score = replay.baseline
        self.journal.begin_session()
        self.hooks.search_start(search, {
            "worker": plan.worker_name, "engine": plan.engine_name, "seed": self.engine.seed,
            "num_workers": self.num_workers, "task_timeout": self.task_timeout,
            "worker_kwargs": dict(self.worker_kwargs), "run_id": plan.run_id,
            "run_folder": str(plan.run_folder), "resumed": replay is not None,
            "evaluations_done": replay.evaluations if replay else 0,
            "failures_done": replay.failures if replay else 0,
            "generations": self.config.generations, "pool_size": self.config.pool_size,
        })
        status = "finished"
        try:
            self.worker.setup()
            self.worker.score_sink = self.sink
            try:
                mode, window = self._scheduling()
                if mode == "asynchronous":
                    from compileiq._scheduler import AsynchronousLoop

                    AsynchronousLoop(self, window).run()
                else:
                    for generation in range(self.config.generations):
                        if not self._generation(generation):
                            break
                if mode != "asynchronous" and replay is not None and replay.active:
                    raise JournalMismatchError(
                        f"The engine {plan.engine_name!r} finished the search with "
                        f"{len(replay.batches) - replay.position} journaled batch(es) never asked again; the "
                        f"journal {str(self.journal.path)!r} does not match this engine or configuration."
                    )
            finally:
                self.worker.score_sink = None
                self.worker.close()
        except BaseException as exc:
            error = exc
            status = "aborted" if type(exc).__name__ == "SearchAbortedError" else (
                "interrupted" if isinstance(exc, KeyboardInterrupt) else "failed")
            if hasattr(exc, "result") and exc.result is None:
                exc.result = self.result()
            raise
        finally:
            try:
                self.journal.end_session(status, None if error is None else f"{type(error).__name__}: {error}")
            except JournalError:
                if error is None:
                    raise
            finally:
                self.hooks.search_end(search, self.result(), error)
        return self.result()

    def _scheduling(self) -> tuple[str, int]:
        """The run's scheduling mode and window (journaled by the first start(), kept on resume)."""
        if self.replay is not None:
            journaled = self.journal.meta().get("scheduling") or {"mode": "generational"}
            mode, window = str(journaled.get("mode")), int(journaled.get("window") or self.num_workers)
            if mode == "asynchronous" and not self.worker.supports_submission:
                raise JournalMismatchError(
                    f"The run in {str(self.journal.path.parent)!r} used asynchronous scheduling, which worker "
                    f"{self.plan.worker_name!r} does not support (supports_submission is False); resume it with "
                    "a worker that does (sequential, async, multiprocess, isolated, ray), or start a new search."
                )
            return mode, window
        mode = self.config.scheduling
        if mode == "asynchronous" and not self.worker.supports_submission:
            warnings.warn(
                f"scheduling='asynchronous' needs a worker with the submission contract; worker "
                f"{self.plan.worker_name!r} has none (supports_submission is False), so this search runs "
                "generational batches.",
                UserWarning,
                stacklevel=5,
            )
            mode = "generational"
        self.journal.set_meta({"scheduling": {"mode": mode, "window": self.num_workers}})
        return mode, self.num_workers

    def recommended(self) -> Any:
        """The engine's recommended configuration (decoded), if it makes one."""
        recommend = getattr(self.engine, "recommend", None)
        genome = recommend() if callable(recommend) else None
        return None if genome is None else self.plan.space.decode(tuple(genome))

    def _check_feasible(self, genomes: list[Any]) -> None:
        """An engine must honour the constraints; one that does not is stopped before evaluating."""
        constraints = self.plan.space.constraints
        if constraints is None:
            return
        for genome in genomes:
            broken = constraints.violated(tuple(genome))
            if broken is not None:
                from compileiq.errors import ConstraintError

                raise ConstraintError(
                    f"The engine {self.plan.engine_name!r} proposed {self.plan.space.decode(tuple(genome))!r}, "
                    f"which violates the constraint {broken!r}; it does not honour Search(constraints=...). "
                    "Use an engine that does (genetic, random) or drop the constraints."
                )

    def _generation(self, generation: int) -> bool:
        """Fill one generation; False when the space is exhausted and the search must end."""
        self.plan.on_generation(generation)
        self.worker.current_generation = generation
        needed, batches, accepted = self.config.pool_size, 0, 0
        while needed > 0:
            try:
                genomes = self.engine.ask(needed, generation)
                self._check_feasible(genomes)
            except SearchSpaceExhaustedError as exc:
                if generation == 0 and batches == 0:
                    raise SearchSpaceExhaustedError(
                        f"The search space cannot fill even the first batch: {exc} Lower pool_size "
                        f"(now {self.config.pool_size}) or widen the space."
                    ) from None
                warnings.warn(
                    f"Ending the search after {generation} of {self.config.generations} generations: "
                    f"the search space has no unseen configurations left ({exc})",
                    SearchSpaceExhaustedWarning,
                    stacklevel=4,
                )
                return False
            successes = self._batch(generation, genomes, first=(accepted == 0))
            accepted += successes
            needed -= successes
            batches += 1
            if needed > 0:
                if batches > self.max_refills:
                    warnings.warn(
                        f"Generation {generation} stays {needed} short of pool_size={self.config.pool_size} "
                        f"after {self.max_refills} refill batches; moving on.",
                        RuntimeWarning,
                        stacklevel=4,
                    )
                    break
                if not self._replaying and not self._refill_warned:
                    self._refill_warned = True
                    warnings.warn(
                        f"{needed} failed evaluation(s) left unfilled positions in the current generation. "
                        "The engine refills them within the generation; later refills are not warned about.",
                        UserWarning,
                        stacklevel=4,
                    )
        return True

    @property
    def max_refills(self) -> int:
        return self.plan.max_refills

    @property
    def _replaying(self) -> bool:
        return self.replay is not None and self.replay.active

    def _replayed_batch(self, generation: int, genomes: list[Genome]) -> AskRecord | None:
        """The journaled batch this ask must reproduce (None once the journal is consumed)."""
        if self.replay is None:
            return None
        batch = self.replay.next()
        if batch is None:
            self.replay = None
            return None
        if batch.generation != generation or [tuple(g) for g in batch.genomes] != [tuple(g) for g in genomes]:
            raise JournalMismatchError(
                f"Resuming {str(self.journal.path)!r}: the engine {self.plan.engine_name!r} proposed other "
                f"candidates than the journal holds for ask #{batch.seq} (generation {batch.generation}). The "
                "engine is not deterministic for this seed, or its version changed since the run began; resume "
                "with the engine version that started the run, or start a new search."
            )
        return batch

    def _batch(self, generation: int, genomes: list[Genome], first: bool) -> int:
        """Evaluate one batch (only its unscored part when replaying); returns how many succeeded."""
        space = self.plan.space
        params = [space.decode(g) for g in genomes]
        replayed = self._replayed_batch(generation, genomes)
        done: dict[str, Score] = {}
        if replayed is not None:
            ids = list(replayed.param_ids)
            ask_seq = replayed.seq
            assert self.replay is not None
            done = {pid: self.replay.scores[pid] for pid in ids if pid in self.replay.scores}
        else:
            ids = new_ids(len(genomes))
            ask_seq = self.journal.record_ask(generation, genomes, ids)
        pending = [i for i, pid in enumerate(ids) if pid not in done]
        arrivals = _Arrivals({ids[i]: params[i] for i in pending}, generation, ask_seq)
        returned: list[Score] = list(done.values())
        if pending:
            self.hooks.generation_start(self.plan.subject, generation, [params[i] for i in pending])
            self._arrivals = arrivals
            try:
                ran = self._run_worker([params[i] for i in pending], [ids[i] for i in pending])
            finally:
                self._arrivals = None
            self._check_returned(ran, [ids[i] for i in pending])
            recorded = arrivals.scores
            for score in ran:  # a worker that only returns its Scores: recorded now, once each
                if score.is_baseline or score.param_id not in recorded:
                    self._arrive(score, arrivals)
            returned.extend(ran)
        by_id = {**done, **arrivals.scores} if done else arrivals.scores
        normalized = self.config.normalize
        successes = 0
        evaluations = []
        sign, observe = self.sign, self.failures.observe
        for pid, genome in zip(ids, genomes):
            score = by_id[pid]
            if score.failed:
                if pid not in done:
                    observe(score)
                evaluations.append(Evaluation(genome, None))
            else:
                successes += 1
                values = score.values(normalized=normalized)
                evaluations.append(Evaluation(genome, tuple([sign * float(v) for v in values])))
        return self._after_batch(generation, returned, evaluations, successes, ids, first, live=bool(pending))

    def _on_score(self, score: Score) -> None:
        """The worker's `score_sink`: records each Score the moment the worker reports it."""
        arrivals = self._arrivals
        if arrivals is not None:
            self._arrive(score, arrivals)

    def _on_scores(self, scores: list[Score]) -> None:
        """`score_sink.many`: Scores that finished together, recorded in one journal transaction."""
        arrivals = self._arrivals
        if arrivals is not None:
            fresh = [score for score in scores if self._accept(score, arrivals)]
            if fresh:
                self._record_many(fresh, arrivals.generation, arrivals.ask_seq)

    def _arrive(self, score: Score, arrivals: _Arrivals) -> None:
        """Record `score` once (journal, hooks), unless it was already recorded or was never asked."""
        if self._accept(score, arrivals):
            self._record(score, arrivals.generation, arrivals.ask_seq)

    def _accept(self, score: Score, arrivals: _Arrivals) -> bool:
        """True the first time a Score of the batch in flight (or a baseline) arrives: record it."""
        if score.is_baseline:
            meta = score.metadata_dict
            key = (meta.get("node_id"), meta.get("gpu_id"))  # Ray: one baseline per node or GPU
            if key in arrivals.baselines:
                return False
            arrivals.baselines.add(key)
        else:
            pid = score.param_id
            if pid in arrivals.scores or pid not in arrivals.issued:
                return False
            arrivals.scores[pid] = score
            if score.params is None:
                score.params = arrivals.issued[pid]
        return True

    def _run_worker(self, params: list[Any], ids: list[Any]) -> Any:
        return self.worker.run(
            function=self.plan.objective,
            params_pool=params,
            params_ids=ids,
            num_function_returns=self.config.num_objectives,
            num_workers=self.num_workers,
            task_timeout=self.task_timeout,
            tracker=None,
            **self.worker_kwargs,
        )

    def _after_batch(self, generation: int, returned: list[Score], evaluations: list[Evaluation],
                     successes: int, ids: list[str], first: bool, live: bool = True) -> int:
        self.engine.tell(evaluations)
        if live:
            self.journal.check_present()  # one stat per batch: a deleted run folder stops the search
            if self.dump is not None:
                self.dump.flush()
            self.hooks.generation_end(self.plan.subject, generation, returned)
        if self.plan.exit_on_failure and generation == 0 and first and successes == 0:
            raise SearchAbortedError.first_generation_failed(returned, len(ids), self.result())
        return successes

    def _check_returned(self, returned: Any, ids: list[str]) -> dict[str, Score]:
        name = self.plan.worker_name
        if not isinstance(returned, (list, tuple)):
            raise RuntimeError(
                f"worker {name!r} returned {type(returned).__name__} from run(); it must return a "
                "list of Score, one per params id."
            )
        by_id: dict[Any, Score] = {}
        for score in returned:
            if not isinstance(score, Score):
                raise RuntimeError(
                    f"worker {name!r} returned {score!r} ({type(score).__name__}) in its list; every "
                    "item must be a compileiq Score."
                )
            if score.is_baseline:
                continue
            if score.param_id in by_id:
                raise RuntimeError(f"worker {name!r} returned two scores for param_id {score.param_id!r}.")
            by_id[score.param_id] = score
        issued = set(ids)
        missing = [i for i in ids if i not in by_id]
        extra = [i for i in by_id if i not in issued]
        if missing or extra:
            raise RuntimeError(
                "Worker must return exactly one non-baseline score for every evaluated candidate ID: "
                f"worker {name!r} left out {len(missing)} ({_ids_text(missing)}) and returned "
                f"{len(extra)} unknown ({_ids_text(extra)})."
            )
        return by_id

    def _record(self, score: Score, generation: int, ask_seq: int | None) -> None:
        """Commit `score` to the journal at once, then tell the evaluation hooks."""
        self.journal.record_score(score, generation, ask_seq, self.plan.worker_name)
        self._result_cache = None
        if self.dump is not None:
            self.dump.add(score, generation, self.plan.worker_name)
        if self.hooks.wants_evaluations:
            self.hooks.evaluation(self.plan.subject, score, generation)

    def _record_many(self, scores: list[Score], generation: int, ask_seq: int | None) -> None:
        """`_record` for Scores that finished together: one journal transaction, then the hooks."""
        name = self.plan.worker_name
        self.journal.record_scores([(score, generation, ask_seq) for score in scores], name)
        self._result_cache = None
        dump = self.dump
        if dump is not None:
            for score in scores:
                dump.add(score, generation, name)
        if self.hooks.wants_evaluations:
            for score in scores:
                self.hooks.evaluation(self.plan.subject, score, generation)

    def result(self) -> SearchResult:
        """Every journaled score as a SearchResult (cached until the next score)."""
        if self._result_cache is None:
            self._result_cache = self.journal.result()
        return self._result_cache
