"""Trackers as hook implementations (order, Loguru, errors) and the progress bar."""

from __future__ import annotations

import io
import sys
from pathlib import Path
from typing import Any

import pytest
from runs_support import make_search

from compileiq.tracker import BaseTracker, build_tracker, logging_exception
from compileiq.types import DefaultTrackerConfig, LoguruTrackerConfig, TrackerConfig, TrackerTypes

pytestmark = pytest.mark.filterwarnings("ignore::UserWarning")


class Recorder(BaseTracker):
    """Records every tracker call."""

    def setup(self, **kwargs: Any) -> None:
        self.calls: list[str] = getattr(self, "calls", [])
        self.calls.append("setup")

    def cleanup(self, **kwargs: Any) -> None:
        self.calls.append("cleanup")

    def search_starts(self, **kwargs: Any) -> None:
        self.calls.append("search_starts")

    def search_ends(self, **kwargs: Any) -> None:
        self.calls.append("search_ends")

    def generation_starts(self, generation_number: int, **kwargs: Any) -> None:
        self.calls.append(f"gen_start {generation_number}")

    def generation_ends(self, generation_number: int, **kwargs: Any) -> None:
        self.calls.append(f"gen_end {generation_number}")

    def pre_objective(self, config: Any, **kwargs: Any) -> None:
        self.calls.append("pre")

    def post_objective(self, scores: str, **kwargs: Any) -> None:
        self.calls.append("post")


def test_tracker_calls_come_in_upstream_order(tmp_path: Path) -> None:
    tracker = Recorder(TrackerConfig(type="recorder"))
    search = make_search(tmp_path, tracker_config=tracker)
    other = make_search(tmp_path)  # another search's hooks must not reach this tracker
    other.start()
    result = search.start()
    calls = tracker.calls
    assert calls[:2] == ["setup", "search_starts"] and calls[-2:] == ["search_ends", "cleanup"]
    assert calls.count("post") == len(result) == calls.count("pre")
    assert calls[2] == "gen_start 0" and calls.count("gen_start 0") == calls.count("gen_end 0")
    body = calls[2:-2]
    i = 0
    while i < len(body):  # gen_start, pre*, post*, gen_end per batch
        assert body[i].startswith("gen_start")
        j = body.index(body[i].replace("start", "end"), i)
        assert set(body[i + 1:j]) <= {"pre", "post"}
        i = j + 1


def test_a_failing_tracker_warns_and_the_search_goes_on(tmp_path: Path) -> None:
    class Broken(Recorder):
        def post_objective(self, scores: str, **kwargs: Any) -> None:
            raise OSError("log server down")

    with pytest.warns(RuntimeWarning, match="log server down"):
        result = make_search(tmp_path, tracker_config=Broken(TrackerConfig(type="broken"))).start()
    assert len(result) > 0


def test_loguru_tracker_writes_the_upstream_messages(tmp_path: Path) -> None:
    pytest.importorskip("loguru")
    log = tmp_path / "search.log"
    result = make_search(tmp_path, tracker_config=LoguruTrackerConfig(sink=str(log), enqueue=False)).start()
    text = log.read_text()
    for message in ("Search started", "Resolved search space", "Generation 0 started", "Generation 2 ended",
                    "Executing objective function with", "Scored:", "Search ended"):
        assert message in text
    assert text.count("Scored:") == len(result)
    assert "SUCCESS" in text


def test_tracker_config_forms() -> None:
    assert build_tracker(None) is None
    assert build_tracker(DefaultTrackerConfig()) is None
    assert build_tracker(TrackerTypes.DEFAULT) is None
    assert DefaultTrackerConfig().type == "disabled" and TrackerTypes.DEFAULT is TrackerTypes.DISABLED
    cfg = LoguruTrackerConfig(sink=sys.stderr, colorize=False)
    assert cfg.sink == [sys.stderr] and cfg.extra == {"colorize": False}
    with pytest.raises(ValueError, match="tracker type 'nope' is unknown"):
        build_tracker({"type": "nope"})
    with pytest.raises(TypeError, match="tracker_config=42"):
        build_tracker(42)


def test_logging_exception_swallows_with_a_warning() -> None:
    @logging_exception
    def boom() -> None:
        raise ValueError("x")

    with pytest.warns(RuntimeWarning, match="An Exception was caught when trying to log metadata"):
        assert boom() is None


def test_progress_bar_shows_generation_evaluations_failures_best(tmp_path: Path,
                                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    pytest.importorskip("tqdm")
    stream = io.StringIO()
    monkeypatch.setattr(sys, "stderr", stream)
    monkeypatch.setenv("COMPILEIQ_PROGRESS", "1")
    result = make_search(tmp_path, disable_progress_bar=False).start()
    text = stream.getvalue()
    failures = int((result.df_results["score_1"] == "*").sum())
    assert "Generation 3/3" in text and f"{len(result)}/{len(result)} evals" in text
    assert f"failures={failures}" in text and "best=" in text and "eta" in text


def test_progress_bar_quiet_when_disabled_or_not_a_terminal(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    stream = io.StringIO()
    monkeypatch.setattr(sys, "stderr", stream)
    monkeypatch.delenv("COMPILEIQ_PROGRESS", raising=False)
    make_search(tmp_path, disable_progress_bar=False).start()  # StringIO is not a terminal
    monkeypatch.setenv("COMPILEIQ_PROGRESS", "1")
    make_search(tmp_path, disable_progress_bar=True).start()
    assert stream.getvalue() == ""


def test_no_heavy_import_at_import_compileiq() -> None:
    import subprocess

    code = ("import sys, compileiq, compileiq.ciq, compileiq.worker, compileiq.types, compileiq.tracker; "
            "heavy = [m for m in ('pandas', 'tqdm', 'loguru', 'mlflow', 'matplotlib', 'sqlite3') if m in sys.modules]; "
            "print(heavy)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


