"""RayWorker on a real multi-node Ray cluster on this machine (one cluster for the module).

The tests run in file order and share the cluster: the node-joining and node-leaving tests
change it, so they come last.
"""

from __future__ import annotations

import json
import threading
import time
from pathlib import Path

import pytest
from ray_objectives import faulty, where
from ray_support import NODE_ARGS, assert_loopback_only, descendants, listening_addresses, wait_gone, worker_nodes

from compileiq.score import Score
from compileiq_ray import RayWorker

pytestmark = pytest.mark.slow

ROW_KEYS = {"node_id", "node_address", "gpu_id", "task_id", "pid"}


def run(worker: RayWorker, function, pool: list, **kwargs) -> tuple[dict, list[Score], list[Score]]:
    streamed: list[Score] = []
    worker.score_sink = streamed.append
    scores = worker.run(function=function, params_pool=pool, params_ids=list(range(len(pool))), **kwargs)
    worker.score_sink = None
    return {s.param_id: s for s in scores if not s.is_baseline}, [s for s in scores if s.is_baseline], streamed


def test_every_ray_process_listens_on_loopback_only(cluster) -> None:
    import ray

    assert {n["NodeManagerAddress"] for n in ray.nodes()} == {"127.0.0.1"}
    assert len(worker_nodes()) == 2
    sockets = assert_loopback_only(descendants() - cluster.pids_before)
    assert len(sockets) >= 6  # gcs, raylets, object managers, workers...


def test_spread_over_both_nodes_one_baseline_per_node_and_row_metadata(cluster) -> None:
    worker = RayWorker(normalize=True)
    worker.setup()
    assert worker._owns_ray is False  # joined the driver's cluster
    pool = [{"x": x, "sleep": 0.4} for x in (1, 2, 4, 8, 3, 6)]
    by_id, baselines, streamed = run(worker, where, pool)
    nodes = set(worker_nodes())
    assert {b.metadata_dict["node_id"] for b in baselines} == nodes and len(baselines) == 2
    assert all(b.score == 2.0 and b.norm_score == 1.0 and b.param_id == "baseline" for b in baselines)
    assert set(worker.baseline_score) == nodes
    assert {s.metadata_dict["node_id"] for s in by_id.values()} == nodes
    for pid, score in by_id.items():
        meta = score.metadata_dict
        assert ROW_KEYS <= set(meta) and meta["node_address"] == "127.0.0.1" and meta["pid"] > 0
        assert score.norm_score == pool[pid]["x"] / 2.0
    assert len(streamed) == len(pool) + 2 and streamed[0].is_baseline  # baselines first, each reported
    by_id, baselines, _ = run(worker, where, [{"x": 4, "sleep": 0}])
    assert baselines == [] and by_id[0].norm_score == 2.0  # measured once per node
    worker.close()
    import ray

    assert ray.is_initialized()  # closing a worker that joined leaves the driver's connection alone


FAULTS = {
    "raise": ("exception", "does not compile"),
    "exit": ("crash", "died"),
    "segfault": ("crash", "died"),
    "none": ("invalid_return", "None (NoneType)"),
    "tuple": ("invalid_return", "(1.0, 2.0) (tuple)"),
    "string": ("invalid_return", "'fast' (str)"),
}


def test_every_fault_scores_invalid_with_its_reason_and_a_hung_task_is_killed(cluster, tmp_path: Path) -> None:
    worker = RayWorker()
    pool = [{"kind": k} for k in FAULTS] + [{"kind": "nan"}, {"kind": "hang", "pid_dir": str(tmp_path)}, {"x": 5}]
    start = time.monotonic()
    by_id, _, streamed = run(worker, faulty, pool, task_timeout=4)
    took = time.monotonic() - start
    assert len(by_id) == len(pool) == len(streamed)
    for pid, (kind, text) in enumerate(FAULTS.values()):
        meta = by_id[pid].metadata_dict
        assert by_id[pid].score == "*" and meta["failure"] == kind and text in meta["error"], (pid, meta)
    assert by_id[6].score == "*" and by_id[6].metadata_dict["failure"] == "non_finite"  # NaN: INVALID
    hung = by_id[7].metadata_dict
    assert hung["failure"] == "timeout" and "task_timeout=4s" in hung["error"] and ROW_KEYS <= set(hung)
    assert by_id[8].score == 5.0
    (pid_file,) = tmp_path.iterdir()
    assert int(pid_file.name) == hung["pid"]
    assert not wait_gone({hung["pid"]}, 10), "the hung task's process was not killed"
    assert took < 40


def test_wrong_length_for_several_objectives(cluster) -> None:
    by_id, _, _ = run(RayWorker(), faulty, [{"kind": "tuple"}, {"kind": "string"}], num_function_returns=3)
    assert all(s.metadata_dict["failure"] == "invalid_return" for s in by_id.values())
    assert "exactly 3 numbers" in by_id[0].metadata_dict["error"]
    by_id, _, _ = run(RayWorker(), faulty, [{"kind": "tuple"}, {"kind": "nan"}], num_function_returns=2)
    assert by_id[0].score == (1.0, 2.0) and by_id[1].metadata_dict["failure"] == "invalid_return"


def test_options_reach_every_task_and_unknown_ones_are_refused(cluster) -> None:
    import ray

    pinned = next(n["NodeID"] for n in ray.nodes() if n["Alive"] and "pinned" in n["Resources"])
    by_id, _, _ = run(RayWorker(), where, [{"sleep": 0.1}] * 4, resources={"pinned": 1}, num_cpus=0.5)
    assert {s.metadata_dict["node_id"] for s in by_id.values()} == {pinned}
    with pytest.raises(TypeError, match="num_cpu=1.*Did you mean 'num_cpus'"):
        RayWorker().run(function=where, params_pool=[{}], params_ids=[0], num_cpu=1)


def test_per_gpu_baselines_with_num_gpus_1(cluster) -> None:
    import ray

    gpu_node = next(n["NodeID"] for n in ray.nodes() if n["Alive"] and n["Resources"].get("GPU"))
    worker = RayWorker(normalize=True)
    pool = [{"x": 2 * (i + 1), "sleep": 0.3} for i in range(4)]
    by_id, baselines, _ = run(worker, where, pool, num_gpus=1)
    assert {(b.metadata_dict["node_id"], b.metadata_dict["gpu_id"]) for b in baselines} == {
        (gpu_node, "0"), (gpu_node, "1")}
    assert set(worker.baseline_score) == {gpu_node} and set(worker.baseline_score[gpu_node]) == {"0", "1"}
    assert {s.metadata_dict["gpu_id"] for s in by_id.values()} <= {"0", "1"}
    assert all(s.norm_score == pool[i]["x"] / 2.0 for i, s in by_id.items())
    assert not ray.util.placement_group_table() or all(
        g["state"] == "REMOVED" for g in ray.util.placement_group_table().values())


def test_a_search_through_worker_type_and_the_guides_num_gpus(cluster, tmp_path: Path) -> None:
    import ray

    import compileiq.search_spaces.base as ss
    from compileiq.ciq import Search
    from compileiq.types import SearchConfiguration

    tuner = Search(
        objective_function=where,
        search_space={"x": ss.range(1, 40, 1), "sleep": ss.choice([0.0])},
        search_config=SearchConfiguration(generations=2, pool_size=6, normalize=True),
        worker_type=RayWorker,
        cache_folder=tmp_path,
    )
    frame = tuner.start(num_gpus=1).get_results()
    assert len(frame) == 12 + 2 and frame["is_baseline"].sum() == 2  # one baseline per GPU
    assert all('"gpu_id": "' in m for m in frame["metadata"])
    assert ray.is_initialized()  # the search joined the driver's cluster and left it connected


def test_asynchronous_search_baselines_every_node_once_and_spreads(cluster, tmp_path: Path) -> None:
    import compileiq.search_spaces.base as ss
    from compileiq.ciq import Search
    from compileiq.journal import Journal
    from compileiq.types import SearchConfiguration

    tuner = Search(
        objective_function=where,
        search_space={"x": ss.range(1, 40, 1), "sleep": ss.choice([0.3])},
        search_config=SearchConfiguration(generations=2, pool_size=6, normalize=True, scheduling="asynchronous"),
        worker_type="ray", cache_folder=tmp_path, disable_progress_bar=True,
    )
    frame = tuner.start(num_workers=3).get_results()
    baselines = frame[frame["is_baseline"]]
    nodes = set(worker_nodes())
    assert {json.loads(m)["node_id"] for m in baselines["metadata"]} == nodes and len(baselines) == 2
    candidates = frame[~frame["is_baseline"]]
    assert len(candidates) == 12 and {json.loads(m)["node_id"] for m in candidates["metadata"]} == nodes
    assert all(n == p["x"] / 2.0 for n, p in zip(candidates["norm_score_1"], candidates["params"]))
    assert Journal.open(tuner.cache_folder).meta()["scheduling"]["mode"] == "asynchronous"


def test_candidates_on_a_node_without_a_baseline_measure_one_locally(cluster, monkeypatch) -> None:
    worker = RayWorker(normalize=True)
    monkeypatch.setattr(RayWorker, "_measure_baselines", lambda self, *a, **k: [])  # as if the node just joined
    by_id, baselines, _ = run(worker, where, [{"x": 6, "sleep": 0}])
    assert baselines == [] and by_id[0].metadata_dict["local_baseline"] == 2.0 and by_id[0].norm_score == 3.0


def test_ctrl_c_cancels_everything_in_flight(cluster, tmp_path: Path) -> None:
    worker = RayWorker()

    def interrupt(score: Score) -> None:
        deadline = time.monotonic() + 30
        while not any(tmp_path.iterdir()) and time.monotonic() < deadline:
            time.sleep(0.05)  # let the hung task start, so there is a process to kill
        raise KeyboardInterrupt

    pool = [{"x": 1}] + [{"kind": "hang", "pid_dir": str(tmp_path)}]
    worker.score_sink = interrupt
    with pytest.raises(KeyboardInterrupt):
        worker.run(function=faulty, params_pool=pool, params_ids=[0, 1])
    pids = {int(p.name) for p in tmp_path.iterdir()}
    assert len(pids) == 1 and not wait_gone(pids, 15)


def test_node_joining_mid_search_is_baselined_and_used(cluster) -> None:
    worker = RayWorker(normalize=True)
    _, first, _ = run(worker, where, [{"sleep": 0}] * 2)
    assert len(first) == 2
    new = cluster.add_node(num_cpus=1, **NODE_ARGS)
    cluster.wait_for_nodes()
    by_id, baselines, _ = run(worker, where, [{"x": 4, "sleep": 0.5}] * 6, scheduling_strategy="SPREAD")
    assert [b.metadata_dict["node_id"] for b in baselines] == [new.node_id]
    assert new.node_id in {s.metadata_dict["node_id"] for s in by_id.values()}
    assert all(s.norm_score == 2.0 for s in by_id.values())


def test_node_leaving_mid_search_loses_no_finished_result(cluster) -> None:
    import ray

    leaving = cluster.list_all_nodes()[-1]
    worker = RayWorker()
    streamed: list[Score] = []
    removed = threading.Event()

    def on_score(score: Score) -> None:
        streamed.append(score)
        if not removed.is_set():
            removed.set()
            threading.Thread(target=cluster.remove_node, args=(leaving,)).start()

    worker.score_sink = on_score
    pool = [{"x": 1, "sleep": 0}] + [{"x": i, "sleep": 3} for i in range(2, 8)]
    scores = worker.run(function=where, params_pool=pool, params_ids=list(range(len(pool))),
                        scheduling_strategy="SPREAD")
    assert sorted(s.param_id for s in scores) == list(range(len(pool)))
    assert [s.param_id for s in streamed] == [s.param_id for s in scores]  # each reported as it landed
    assert leaving.node_id not in {n["NodeID"] for n in ray.nodes() if n["Alive"]}
    ok = [s for s in scores if not s.failed]
    assert len(ok) >= len(pool) - 1, [s.metadata_dict for s in scores if s.failed]
    moved = [s for s in scores if s.metadata_dict.get("rescheduled")]
    assert moved and all(s.metadata_dict["node_id"] != leaving.node_id for s in moved)


def test_ray_address_joins_the_cluster_and_close_only_disconnects(cluster, monkeypatch) -> None:
    import ray

    ray.shutdown()  # the driver leaves; the cluster stays
    # gcs, raylets, object managers
    servers = {pid for _, _, pid in listening_addresses(descendants() - cluster.pids_before)}
    monkeypatch.setenv("RAY_ADDRESS", cluster.address)
    worker = RayWorker()
    worker.setup()
    assert worker._owns_ray and ray.is_initialized()
    assert {n["NodeManagerAddress"] for n in ray.nodes()} == {"127.0.0.1"}
    by_id, _, _ = run(worker, where, [{"x": 3, "sleep": 0}])
    assert by_id[0].score == 3.0
    worker.close()
    assert not ray.is_initialized()
    # the cluster's control plane (GCS, raylets) still runs; idle Ray worker processes may come and go
    core = {pid for pid in servers if _comm(pid) in ("gcs_server", "raylet")}
    assert core and wait_gone(core, 0) == core


def _comm(pid: int) -> str:
    """The process's command name, or "" when it is gone."""
    try:
        return Path(f"/proc/{pid}/comm").read_text().strip()
    except OSError:
        return ""
