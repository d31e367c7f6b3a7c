"""The users' guide example "Native Worker (MultiProcessWorker)", as written there."""

import compileiq.search_spaces.base as ss
from compileiq.ciq import Search
from compileiq.types import SearchConfiguration
from compileiq.worker import MultiProcessWorker


def objective(config):
    return (config["tile"] - 48) ** 2 + config["unroll"]


search_space_config = {"tile": ss.range(16, 128, 16), "unroll": ss.choice([1, 2, 4, 8])}
main_config = SearchConfiguration(generations=2, pool_size=8)

if __name__ == "__main__":
    tuner = Search(
        objective_function=objective,
        search_space=search_space_config,
        search_config=main_config,
        worker_type=MultiProcessWorker,
    )
    results = tuner.start(num_workers=15)
    print("rows", len(results.get_results()))
    print("best", results.get_best_result()["params"])
