"""`compileiq runs`, `compileiq report` and `compileiq resume`."""

from __future__ import annotations

import json
import sys
import textwrap
from pathlib import Path
from typing import Any

import pytest
from runs_support import make_search

import compileiq.search_spaces.base as ss
from compileiq import EngineConfig, Search, SearchConfiguration
from compileiq.cli import main
from compileiq.journal import Journal

pytestmark = pytest.mark.filterwarnings("ignore::UserWarning")


def test_runs_lists_id_start_status_evaluations_best(tmp_path: Path,
                                                      capsys: pytest.CaptureFixture[str]) -> None:
    search = make_search(tmp_path)
    result = search.start()
    assert main(["runs", "--folder", str(tmp_path / "runs")]) == 0
    out = capsys.readouterr().out
    assert search.run_id in out and "finished" in out and str(len(result)) in out
    assert main(["runs", "--folder", str(tmp_path / "runs"), "--json"]) == 0
    (row,) = json.loads(capsys.readouterr().out)
    assert row["status"] == "finished" and row["evaluations"] == len(result)
    assert row["best"] == result.get_best_result()["score_1"]


def test_runs_marks_a_damaged_journal(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    search = make_search(tmp_path)
    search.start()
    (search.cache_folder / "journal.sqlite").write_bytes(b"garbage" * 500)
    assert main(["runs", "--folder", str(tmp_path / "runs")]) == 0
    assert "damaged" in capsys.readouterr().out


@pytest.mark.parametrize("objectives", [1, 2])
def test_report_writes_html_with_embedded_pngs(tmp_path: Path, objectives: int,
                                                capsys: pytest.CaptureFixture[str]) -> None:
    pytest.importorskip("matplotlib")

    def objective(c: dict) -> Any:
        if c["x"] % 9 == 0:
            return "*"
        value = (c["x"] - 20) ** 2 + len(c["o"])
        return value if objectives == 1 else [value, 100 / (c["x"] + 1)]

    search = Search(objective_function=objective, search_space={"x": ss.range(0, 50), "o": ss.choice(["a", "bb"])},
                    search_config=SearchConfiguration(generations=3, pool_size=8, num_objectives=objectives),
                    worker_type="sequential", engine=EngineConfig("random", {"seed": 1}),
                    cache_folder=tmp_path / "runs", exit_on_failure=False, disable_progress_bar=True)
    search.start()
    out = tmp_path / "rep" / "page.html"
    assert main(["report", search.run_id[:19], "--folder", str(tmp_path / "runs"), "-o", str(out)]) == 0
    assert capsys.readouterr().out.strip() == str(out)
    page = out.read_text()
    pngs = sorted(p.name for p in (out.parent / "page_files").iterdir())
    expected = ["best_so_far.png", "failures.png", "parameters.png", "scores_per_generation.png"]
    assert pngs == sorted(expected + (["pareto_front.png"] if objectives > 1 else []))
    assert page.count("data:image/png;base64,") == len(pngs)
    assert "http://" not in page and "https://" not in page
    assert "Failure reasons" in page and search.run_id in page
    assert ("Pareto front" in page) == (objectives > 1)


def test_report_without_matplotlib_says_what_to_install(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                         capsys: pytest.CaptureFixture[str]) -> None:
    search = make_search(tmp_path)
    search.start()
    monkeypatch.setitem(sys.modules, "matplotlib", None)
    assert main(["report", str(search.cache_folder)]) == 2
    assert "pip install 'compileiq-core[report]'" in capsys.readouterr().err


def test_resume_command_continues_an_interrupted_run(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                     capsys: pytest.CaptureFixture[str]) -> None:
    (tmp_path / "objmod.py").write_text(textwrap.dedent(
        """
        calls = []
        stop_at = [5]

        def objective(c):
            calls.append(c)
            if len(calls) == stop_at[0]:
                raise KeyboardInterrupt
            return c["x"] * 1.0
        """))
    monkeypatch.syspath_prepend(str(tmp_path))
    import objmod

    search = Search(objective_function=objmod.objective, search_space={"x": ss.range(0, 100)},
                    search_config=SearchConfiguration(generations=2, pool_size=6), worker_type="sequential",
                    engine=EngineConfig("random", {"seed": 3}), cache_folder=tmp_path / "runs",
                    disable_progress_bar=True)
    with pytest.raises(KeyboardInterrupt):
        search.start()
    objmod.stop_at[0] = -1
    assert main(["resume", search.run_id, "--folder", str(tmp_path / "runs"), "--objective", "objmod:objective"]) == 0
    journal = Journal.open(search.cache_folder)
    assert journal.info().status == "finished" and journal.counts() == (12, 0)
