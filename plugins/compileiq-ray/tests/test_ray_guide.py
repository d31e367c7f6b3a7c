"""The users' guide Ray example, run as written: RayWorker starts a local Ray of its own
(loopback only) and leaves no Ray process behind."""

from __future__ import annotations

import ast
import runpy
from pathlib import Path

import pytest
from ray_support import assert_loopback_only, descendants, wait_gone

from compileiq_ray import RayWorker

pytestmark = pytest.mark.slow

EXAMPLE = Path(__file__).parents[3] / "examples" / "workers_guide" / "ray_worker.py"


def test_guide_example_starts_a_loopback_ray_and_stops_it(monkeypatch, tmp_path: Path, capsys) -> None:
    import ray

    assert not ray.is_initialized()
    before = descendants()  # processes of other tests (a forkserver, say), not Ray's
    token = Path.home() / ".ray" / "auth_token"
    if token.exists():  # made by an earlier module's Ray; this process's Ray keeps using it
        monkeypatch.setenv("RAY_AUTH_TOKEN_PATH", str(token))
    monkeypatch.setenv("HOME", str(tmp_path))  # run folders go under $HOME/.cache/compileiq
    monkeypatch.setattr(RayWorker, "init_options", {"include_dashboard": False, "num_cpus": 2,
                                                    "object_store_memory": 80 * 1024**2})
    seen: dict[str, object] = {}
    original_close = RayWorker.close

    def checked_close(self: RayWorker) -> None:
        seen["owned"] = self._owns_ray
        seen["addresses"] = {n["NodeManagerAddress"] for n in ray.nodes()}
        seen["pids"] = descendants() - before
        seen["sockets"] = assert_loopback_only(seen["pids"])
        original_close(self)

    monkeypatch.setattr(RayWorker, "close", checked_close)
    runpy.run_path(str(EXAMPLE), run_name="__main__")
    out = capsys.readouterr().out
    best = ast.literal_eval(out.split("best ", 1)[1].strip())
    assert "rows 16" in out and best["tile"] % 16 == 0 and best["unroll"] in (1, 2, 4, 8)
    assert seen["owned"] is True and seen["addresses"] == {"127.0.0.1"} and seen["sockets"]
    assert not ray.is_initialized()
    assert not wait_gone(seen["pids"]), "Ray processes left after the search"
