"""Ray test support: loopback-only clusters, one per module, and checks that nothing is left.

Every Ray process these tests start binds 127.0.0.1 (`RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER=0`,
`node_ip_address="127.0.0.1"`), runs without dashboard or usage stats, and is verified gone
after its module (by PID, among the descendants of this test process).
"""

from __future__ import annotations

import os
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent))

from ray_support import NODE_ARGS, descendants, wait_gone  # noqa: E402 - needs the path above


@pytest.fixture(scope="module")
def cluster() -> Iterator[object]:
    """A real multi-node cluster: a head with 0 CPUs and two worker nodes, one with 1 CPU, the
    other with 2 CPUs, two (declared) GPUs and a custom resource `pinned`. The driver joins it
    with `ray.init(address="auto")` as the users' guide shows."""
    import ray
    from ray.cluster_utils import Cluster

    before = descendants()
    made = Cluster(initialize_head=True, head_node_args={"num_cpus": 0, "include_dashboard": False, **NODE_ARGS})
    started: set[int] = set()
    try:
        made.add_node(num_cpus=1, **NODE_ARGS)
        made.add_node(num_cpus=2, num_gpus=2, resources={"pinned": 4}, **NODE_ARGS)
        os.environ["RAY_ADDRESS"] = made.address
        try:
            ray.init(address="auto")
        finally:
            del os.environ["RAY_ADDRESS"]
        made.wait_for_nodes()
        started = descendants() - before
        made.pids_before = before  # processes of other tests, not the cluster's
        yield made
    finally:
        started |= descendants() - before
        ray.shutdown()
        made.shutdown()
        left = wait_gone(started)
        assert not left, f"Ray processes left after the module: {sorted(left)}"




@pytest.fixture(scope="module")
def local_ray() -> Iterator[None]:
    """One single-node loopback Ray with 4 CPUs for the module, shut down after it (every process
    it started verified gone)."""
    import ray

    before = descendants()
    ray.init(address="local", num_cpus=4, include_dashboard=False, _node_ip_address="127.0.0.1",
             object_store_memory=NODE_ARGS["object_store_memory"])
    started: set[int] = set()
    try:
        started = descendants() - before
        yield
    finally:
        started |= descendants() - before
        ray.shutdown()
        left = wait_gone(started)
        assert not left, f"Ray processes left after the module: {sorted(left)}"
