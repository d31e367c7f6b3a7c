"""The generation loop behind `Search.start()`: ask, run, check, record, tell, refill."""

from __future__ import annotations

import uuid
import warnings
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from compileiq.engines.base import Evaluation
from compileiq.errors import SearchSpaceExhaustedError, SearchSpaceExhaustedWarning
from compileiq.evaluation import FailureWarnings
from compileiq.plugins import get_plugin_manager
from compileiq.score import Score
from compileiq.search_spaces.space import Genome
from compileiq.types import ProblemType

if TYPE_CHECKING:
    from compileiq.ciq import Search
    from compileiq.results import SearchResult


def _ids_text(ids: Sequence[Any], limit: int = 5) -> str:
    shown = ", ".join(repr(i) for i in list(ids)[:limit])
    return shown + (f" and {len(ids) - limit} more" if len(ids) > limit else "")


class _Hooks:
    """Typed facade over the pluggy hooks; skips hooks nobody implements."""

    def __init__(self) -> None:
        hook = get_plugin_manager().hook
        self._start = hook.compileiq_search_start
        self._evaluation = hook.compileiq_evaluation
        self._generation_end = hook.compileiq_generation_end
        self._end = hook.compileiq_search_end
        self.wants_evaluations = bool(self._evaluation.get_hookimpls())

    def search_start(self, search: Search, run_info: dict[str, Any]) -> None:
        self._start(search=search, run_info=run_info)

    def evaluation(self, search: Search, score: Score, generation: int) -> None:
        self._evaluation(search=search, score=score, generation=generation)

    def generation_end(self, search: Search, generation: int, scores: Sequence[Score]) -> None:
        self._generation_end(search=search, generation=generation, scores=scores)

    def search_end(self, search: Search, result: SearchResult | None, error: BaseException | None) -> None:
        self._end(search=search, result=result, error=error)


class Driver:
    """Runs one `start()` of a Search."""

    def __init__(self, search: Search, *, num_workers: int, task_timeout: float | None,
                 worker_kwargs: dict[str, Any]) -> None:
        self.search = search
        self.config = search.search_config
        self.worker = search.worker
        self.num_workers = num_workers
        self.task_timeout = task_timeout
        self.worker_kwargs = worker_kwargs
        self.rows: list[dict[str, Any]] = []
        self.sign = -1.0 if self.config.problem_type is ProblemType.MAX else 1.0
        self.failures = FailureWarnings()
        self.hooks = _Hooks()
        self.engine = search._new_engine()

    # -- the loop --------------------------------------------------------------------------

    def run(self) -> SearchResult:
        search = self.search
        error: BaseException | None = None
        self.hooks.search_start(search, {
            "worker": search.worker_name, "engine": search.engine.name, "seed": self.engine.seed,
            "num_workers": self.num_workers, "task_timeout": self.task_timeout,
            "worker_kwargs": dict(self.worker_kwargs),
        })
        self.worker.setup()
        try:
            for generation in range(self.config.generations):
                if not self._generation(generation):
                    break
        except BaseException as exc:
            error = exc
            if hasattr(exc, "result") and exc.result is None:
                exc.result = self.result()
            raise
        finally:
            try:
                self.worker.close()
            finally:
                self.hooks.search_end(search, self.result(), error)
        return self.result()

    def _generation(self, generation: int) -> bool:
        """Fill one generation; False when the space is exhausted and the search must end."""
        self.search.current_generation = generation
        self.worker.current_generation = generation
        needed, batches, accepted = self.config.pool_size, 0, 0
        while needed > 0:
            try:
                genomes = self.engine.ask(needed, generation)
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
                warnings.warn(
                    f"{needed} failed evaluation(s) left unfilled positions in the current generation.",
                    UserWarning,
                    stacklevel=4,
                )
        return True

    @property
    def max_refills(self) -> int:
        return self.search.max_refill_batches

    def _batch(self, generation: int, genomes: list[Genome], first: bool) -> int:
        """Evaluate one batch; returns how many evaluations succeeded."""
        space = self.search.space
        params = [space.decode(g) for g in genomes]
        ids = [uuid.uuid4().hex for _ in genomes]
        issued = dict(zip(ids, params))
        streamed: set[Any] = set()

        def on_arrival(score: Score) -> None:
            # a worker may measure several baselines per batch (Ray: one per node or GPU)
            key = ("baseline", id(score)) if score.is_baseline else score.param_id
            if key in streamed or (not score.is_baseline and key not in issued):
                return
            streamed.add(key)
            if score.params is None and not score.is_baseline:
                score.params = issued[key]
            self._record(score, generation)

        self.worker._score_listener = on_arrival
        try:
            returned = self._run_worker(params, ids)
        finally:
            self.worker._score_listener = None
        by_id = self._check_returned(returned, ids)
        normalized = self.config.normalize
        successes = 0
        evaluations = []
        for score in returned:
            if score.is_baseline and ("baseline", id(score)) not in streamed:
                self._record(score, generation)
        for pid, genome, config in zip(ids, genomes, params):
            score = by_id[pid]
            if score.params is None:
                score.params = config
            if pid not in streamed:
                self._record(score, generation)
            self.failures.observe(score)
            if score.failed:
                evaluations.append(Evaluation(genome, None))
            else:
                successes += 1
                values = score.values(normalized=normalized)
                evaluations.append(Evaluation(genome, tuple(self.sign * float(v) for v in values)))
        return self._after_batch(generation, returned, evaluations, successes, ids, first)

    def _run_worker(self, params: list[Any], ids: list[str]) -> Any:
        return self.worker.run(
            function=self.search.objective_function,
            params_pool=params,
            params_ids=ids,
            num_function_returns=self.config.num_objectives,
            num_workers=self.num_workers,
            task_timeout=self.task_timeout,
            tracker=None,
            **self.worker_kwargs,
        )

    def _after_batch(self, generation: int, returned: list[Score], evaluations: list[Evaluation],
                     successes: int, ids: list[str], first: bool) -> int:
        self.engine.tell(evaluations)
        if self.search.dump_results is not None:
            self.result().save(self.search.dump_results)
        self.hooks.generation_end(self.search, generation, returned)
        if self.search.exit_on_failure and generation == 0 and first and successes == 0:
            from compileiq.ciq import SearchAbortedError

            reason = next((s.metadata_dict.get("error") for s in returned if not s.is_baseline
                           and s.metadata_dict.get("error")), "the objective returned INVALID_SCORE")
            raise SearchAbortedError(
                f"All objective functions failed in the first gen ({len(ids)} of {len(ids)}; first "
                f"reason: {reason}). Fix the objective, or pass Search(exit_on_failure=False) "
                "to keep searching anyway.",
                self.result(),
            )
        return successes

    def _check_returned(self, returned: Any, ids: list[str]) -> dict[str, Score]:
        name = self.search.worker_name
        if not isinstance(returned, (list, tuple)):
            raise RuntimeError(
                f"worker {name!r} returned {type(returned).__name__} from run(); it must return a "
                "list of Score, one per params id."
            )
        by_id: dict[str, Score] = {}
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

    def _record(self, score: Score, generation: int) -> None:
        from compileiq.results import score_row

        self.rows.append(score_row(score, generation, self.config.normalize))
        if self.hooks.wants_evaluations:
            self.hooks.evaluation(self.search, score, generation)

    def result(self) -> SearchResult:
        from compileiq.results import SearchResult

        return SearchResult.from_rows(
            self.rows, self.config.problem_type, self.config.num_objectives, self.config.normalize
        )
