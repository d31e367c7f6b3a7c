"""The users' guide section "Create your own Custom Worker", with its code as written there.

Run: python custom_worker.py [plain|normalized]. The guide's SequentialWorker is passed as a
class and as an instance.
"""

import logging
import sys

import compileiq.search_spaces.base as ss
from compileiq.ciq import Search
from compileiq.types import SearchConfiguration
from compileiq.worker import BASELINE_CONFIG, INVALID_SCORE, BaseWorker, Score

logger = logging.getLogger("custom_worker")


class SequentialWorker(BaseWorker):
    def run(
        self,
        *,
        function: callable,
        params_pool: list[dict | str],
        params_ids: list[int],
        num_function_returns: int = 1,
        **kwargs,
    ) -> list[Score]:
        scores = []

        # It is your responsibility to handle baseline score and normalization.
        # In this example, we will calculate the baseline score only once for the search
        if self.normalize and self.baseline_score is None:
            logger.info("Calculating Baseline score for normalization.")
            baseline_score = function(BASELINE_CONFIG)

            # Save the baseline score to reuse in future batches/generations.
            self.baseline_score = Score(
                score=baseline_score,
                param_id="baseline",
                params=BASELINE_CONFIG,
                norm_score=self.normalize_scores(baseline_score, baseline_score),
                num_objectives=num_function_returns,
                is_baseline=True,
            )
            scores.append(self.baseline_score)

        # Simple sequential execution for this worker.
        # `BaseWorker` provides you with utilities to handle normalization and validation.
        for i, param in enumerate(params_pool):
            try:
                func_return = function(param)
            except Exception as e:
                # Make sure to handle any uncaught exceptions, or the search will be interrupted.
                logger.warning(
                    f"Unhandled exception {e} on your objective function with params {param}. "
                    "We will return an invalid score."
                )
                func_return = (
                    [INVALID_SCORE] * num_function_returns
                    if num_function_returns > 1
                    else INVALID_SCORE
                )

            valid_score = Score(
                score=func_return,
                param_id=params_ids[i],
                params=param,
                num_objectives=num_function_returns,
            )

            # Apply normalization if enabled. If you don't plan to use normalization,
            # you can skip this step.
            if self.normalize:
                valid_score.norm_score = self.normalize_scores(
                    valid_score.score, self.baseline_score.score
                )
            scores.append(valid_score)

        # Return the list of all scores measured this round (including baseline if calculated)
        return scores


def objective(config):
    if config.get("tile") == 112:
        raise ValueError("this tile size does not compile")
    return (config.get("tile", 64) - 48) ** 2 + config.get("unroll", 2) + 1


search_space_config = {"tile": ss.range(16, 128, 16), "unroll": ss.choice([1, 2, 4, 8])}

if __name__ == "__main__":
    normalize = len(sys.argv) > 1 and sys.argv[1] == "normalized"
    main_config = SearchConfiguration(generations=2, pool_size=8, normalize=normalize)

    tuner = Search(
        objective_function=objective,
        search_space=search_space_config,
        search_config=main_config,
        worker_type=SequentialWorker,
    )
    results = tuner.start()
    print("class rows", len(results.get_results()))

    tuner = Search(
        objective_function=objective,
        search_space=search_space_config,
        search_config=main_config,
        worker_type=SequentialWorker(
            cache_folder=tuner.cache_folder,
            normalize=main_config.normalize,
        ),
    )
    results = tuner.start()
    print("instance rows", len(results.get_results()))
    print("best", results.get_best_result()["params"])
