"""The quality benchmark's statistics and trace archive (benchmarks/quality/run.py)."""

from __future__ import annotations

import importlib.util
import json
import sys
from pathlib import Path

import pytest

QUALITY = Path(__file__).parents[1] / "benchmarks" / "quality"
sys.path.insert(0, str(QUALITY))  # run.py imports problems.py from its folder
_spec = importlib.util.spec_from_file_location("quality_bench_run", QUALITY / "run.py")
bench = importlib.util.module_from_spec(_spec)
sys.modules[_spec.name] = bench  # its dataclasses look their module up
_spec.loader.exec_module(bench)


def test_wilcoxon_matches_the_reference_values() -> None:
    """Exact p-values for small samples without ties; normal approximation with ties.

    Expected values: scipy.stats.wilcoxon on the same data (exact, and method="approx" with
    correction=True for the tied sample), computed once outside this repository.
    """
    x = [1.83, 0.50, 1.62, 2.48, 1.68, 1.88, 1.55, 3.06, 1.30]
    y = [0.878, 0.647, 0.598, 2.05, 1.06, 1.29, 1.06, 3.14, 1.29]
    n, w_plus, p = bench.wilcoxon(x, y)
    assert (n, w_plus) == (9, 40.0) and p == pytest.approx(0.0390625)
    tied = bench.wilcoxon([1, 2, 3, 4, 5, 6, 7, 8, 9, 10], [0, 0, 1, 1, 2, 2, 3, 3, 4, 4])
    assert tied[:2] == (10, 55.0) and tied[2] == pytest.approx(0.005793, rel=1e-3)
    assert bench.wilcoxon([1.0, 2.0], [1.0, 2.0]) == (0, 0.0, 1.0)  # all pairs equal: no evidence
    swapped = bench.wilcoxon(y, x)
    assert swapped[2] == pytest.approx(p) and swapped[1] == 45 - 40.0


def test_traces_pack_compactly_and_load_back(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(bench, "TRACES", tmp_path / "traces.jsonl.gz")
    monkeypatch.setattr(bench, "_ARCHIVE", None)  # restored afterwards: no cached archive leaks out
    results = tmp_path / "results"
    results.mkdir()
    runs = [{"optimizer": "tpe", "seed": s, "cpu": 0.123456789, "trace": [10001.123456789, None, [0.5, 0.25]]}
            for s in range(2)]
    (results / "tpe-1__sphere.jsonl").write_text("".join(json.dumps(r) + "\n" for r in runs))
    bench.pack(results)
    (results / "tpe-1__sphere.jsonl").unlink()  # --report-only on a clean clone: only the archive
    loaded = bench.load(results / "tpe-1__sphere.jsonl")
    assert [r["seed"] for r in loaded] == [0, 1]
    assert loaded[0]["trace"] == [10001.12, None, [0.5, 0.25]] and loaded[0]["cpu"] == 0.1235
    assert bench.load(results / "missing__sphere.jsonl") == []
