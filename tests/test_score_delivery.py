"""Scores handed to the core together (`report_scores`, `deliver_all`): recorded once each, in one
journal transaction, and never lost once handed over, even when the driver is SIGKILLed at once."""

from __future__ import annotations

import json
import sqlite3
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Any

import pytest

from compileiq.score import Score
from compileiq.worker import BaseWorker

# A driver whose worker hands Scores over (alone or together), then is SIGKILLed the moment the
# hand-over returns: whatever it handed over must be in the journal.
KILLED_SCRIPT = textwrap.dedent(
    """
    import os, signal, sys
    import compileiq.search_spaces.base as ss
    from compileiq import Search, SearchConfiguration
    from compileiq.evaluation import evaluate
    from compileiq.worker import BaseWorker

    base, how, marker = sys.argv[1], sys.argv[2], sys.argv[3]

    def objective(config):
        return config["x"] * 2.0

    class HandsOverThenDies(BaseWorker):
        name = ""

        def run(self, *, function, params_pool, params_ids, num_function_returns=1, **kwargs):
            scores = [evaluate(function, p, param_id=i, num_objectives=num_function_returns)
                      for p, i in zip(params_pool, params_ids)]
            if how == "together":
                self.deliver_all(scores)
            else:
                for score in scores:
                    self.deliver(score)
            with open(marker, "w") as fh:
                fh.write("\\n".join(str(s.param_id) for s in scores))
            os.kill(os.getpid(), signal.SIGKILL)

    if __name__ == "__main__":
        Search(objective_function=objective, search_space={"x": ss.range(0, 1000)},
               search_config=SearchConfiguration(generations=2, pool_size=7), worker_type=HandsOverThenDies,
               engine="random", cache_folder=base, disable_progress_bar=True).start()
    """
)


@pytest.mark.parametrize("how", ["together", "one_by_one"])
def test_a_driver_killed_right_after_scores_are_handed_over_loses_none(tmp_path: Path, how: str) -> None:
    script = tmp_path / "driver.py"
    script.write_text(KILLED_SCRIPT)
    marker = tmp_path / "handed_over.txt"
    base = tmp_path / "runs"
    proc = subprocess.run([sys.executable, str(script), str(base), how, str(marker)], capture_output=True,
                          timeout=120, env={**__import__("os").environ, "COMPILEIQ_PROGRESS": "0"})
    assert proc.returncode == -9, proc.stderr.decode()
    handed_over = marker.read_text().split()
    assert len(handed_over) == 7
    [folder] = [p for p in base.iterdir() if p.is_dir()]
    conn = sqlite3.connect(folder / "journal.sqlite")
    rows = conn.execute("SELECT param_id, score, params FROM scores WHERE is_baseline = 0 ORDER BY seq").fetchall()
    conn.close()
    assert [pid for pid, _, _ in rows] == handed_over
    assert all(json.loads(score) == json.loads(params)["x"] * 2.0 for _, score, params in rows)


class _Sink:
    def __init__(self, grouped: bool) -> None:
        self.calls: list[list[Score]] = []
        if grouped:
            self.many = self.calls.append

    def __call__(self, score: Score) -> None:
        self.calls.append([score])


class _Plain(BaseWorker):
    name = ""

    def run(self, **kwargs: Any) -> list[Score]:  # pragma: no cover - not used here
        return []


def _scores(n: int) -> list[Score]:
    return [Score(score=float(i + 1), param_id=f"p{i}", num_objectives=1) for i in range(n)]


@pytest.mark.parametrize("grouped", [True, False])
def test_deliver_all_normalizes_each_and_hands_them_over_in_one_call_when_the_sink_takes_groups(
        grouped: bool) -> None:
    worker = _Plain(normalize=True)
    worker.baseline_score = Score(score=2.0, param_id="baseline", num_objectives=1, is_baseline=True)
    worker.score_sink = sink = _Sink(grouped)
    out = worker.deliver_all(_scores(3))
    assert [s.norm_score for s in out] == [0.5, 1.0, 1.5]
    assert [[s.param_id for s in call] for call in sink.calls] == (
        [["p0", "p1", "p2"]] if grouped else [["p0"], ["p1"], ["p2"]])


def test_deliver_all_of_a_worker_with_its_own_deliver_goes_through_it() -> None:
    class Stamping(_Plain):
        def deliver(self, score: Score) -> Score:
            score.metadata = json.dumps({"stamped": True})
            return super().deliver(score)

    worker = Stamping()
    worker.score_sink = sink = _Sink(grouped=True)
    worker.deliver_all(_scores(2))
    assert [json.loads(call[0].metadata) for call in sink.calls] == [{"stamped": True}] * 2


def test_multiprocess_pool_records_each_score_once_whether_alone_or_grouped(tmp_path: Path) -> None:
    """A pool of 4 with instant candidates: results often arrive several per wake-up; each Score
    reaches the sink exactly once, normalized, and the search's journal holds each once."""
    import compileiq.search_spaces.base as ss
    from compileiq import Search, SearchConfiguration
    from compileiq.journal import Journal

    search = Search(objective_function=_double, search_space={"x": ss.range(1, 5000)},
                    search_config=SearchConfiguration(generations=3, pool_size=200, normalize=True),
                    worker_type="multiprocess", engine="random", cache_folder=tmp_path, disable_progress_bar=True)
    result = search.start(num_workers=4)
    df = result.df_results
    candidates = df[~df["is_baseline"]]
    assert len(candidates) == 600 and candidates["param_id"].is_unique
    assert (candidates["norm_score_1"] == candidates["score_1"] / 2.0).all()  # the objective gives 2.0 on {}
    journal = Journal.open(search.cache_folder)
    assert journal.counts() == (600, 0)
    journal.close()


def _double(config: dict[str, Any]) -> float:
    return float(config.get("x", 1)) * 2.0
