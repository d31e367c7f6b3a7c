"""`dump_results` and the progress bar do constant work per Score: the CSV is appended to, never
rewritten, and no result is rebuilt from the journal while the search runs, however long it is.
(benchmarks/dispatch/per_score.py shows the time per Score staying flat from 1k to 50k.)"""

from __future__ import annotations

import io
from contextlib import redirect_stderr
from pathlib import Path
from typing import Any

import pytest

import compileiq.search_spaces.base as ss
from compileiq import EngineConfig, Search, SearchConfiguration
from compileiq._dump import ResultsDump
from compileiq.journal import Journal
from compileiq.results import SearchResult


def _objective(config: dict[str, Any]) -> Any:
    return "*" if config["x"] % 7 == 0 else float(config["x"])


@pytest.mark.parametrize("generations", [2, 8])
def test_dump_appends_each_batch_once_and_no_result_is_rebuilt_while_running(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, generations: int) -> None:
    rebuilt: list[int] = []
    real_result = Journal.result
    monkeypatch.setattr(Journal, "result", lambda self: rebuilt.append(1) or real_result(self))
    written: list[int] = []  # rows each flush wrote
    real_flush = ResultsDump.flush
    monkeypatch.setattr(ResultsDump, "flush", lambda self: written.append(len(self._pending)) or real_flush(self))
    monkeypatch.setenv("COMPILEIQ_PROGRESS", "1")  # the progress bar runs too
    dump = tmp_path / "results.csv"
    search = Search(objective_function=_objective, search_space={"x": ss.range(0, 10**6)},
                    search_config=SearchConfiguration(generations=generations, pool_size=20),
                    worker_type="sequential", engine=EngineConfig("random", {"seed": 3}),
                    cache_folder=tmp_path / "runs", dump_results=dump, exit_on_failure=False)
    modes: list[str] = []  # how the CSV was opened, each time
    real_open = Path.open

    def open_(self: Path, mode: str = "r", *args: Any, **kwargs: Any) -> Any:
        if self == dump:
            modes.append(mode)
        return real_open(self, mode, *args, **kwargs)

    monkeypatch.setattr(Path, "open", open_)
    bar = io.StringIO()
    with pytest.warns(UserWarning), redirect_stderr(bar):
        result = search.start()
    assert rebuilt == [1]  # only the final result; nothing per batch or per Score
    assert "evals" in bar.getvalue()  # the bar was drawn
    assert sum(written) == len(result) and all(0 < n <= 20 * (1 + search.max_refill_batches) for n in written)
    assert modes[0] == "w" and set(modes[1:]) == {"a"} and len(modes) >= generations  # appended, never rewritten
    saved = SearchResult.from_csv(dump, "min", clear_duplicates=False).df_results
    assert list(saved["param_id"]) == list(result.df_results["param_id"])
