"""The users' guide example "Ray Worker", as written there.

Run as is, RayWorker starts a local Ray (bound to 127.0.0.1) and stops it at the end. On a
cluster, call `ray.init(address="auto")` first (or set RAY_ADDRESS): pass `--cluster`.
"""

import sys

import compileiq.search_spaces.base as ss
from compileiq.ciq import Search
from compileiq.types import SearchConfiguration
from compileiq.worker import RayWorker


def objective(config):
    return (config["tile"] - 48) ** 2 + config["unroll"]


search_space_config = {"tile": ss.range(16, 128, 16), "unroll": ss.choice([1, 2, 4, 8])}
main_config = SearchConfiguration(generations=2, pool_size=8)

if __name__ == "__main__":
    if "--cluster" in sys.argv:
        import ray

        ray.init(address="auto")
    tuner = Search(
        objective_function=objective,
        search_space=search_space_config,
        search_config=main_config,
        worker_type=RayWorker,
    )
    results = tuner.start()
    print("rows", len(results.get_results()))
    print("best", results.get_best_result()["params"])
