"""Importing compileiq is cheap and global-state free."""

from __future__ import annotations

import json
import subprocess
import sys

PROBE = """
import json, sys, multiprocessing
import compileiq, compileiq.ciq, compileiq.worker, compileiq.types, compileiq.search_spaces.base
print(json.dumps({
    "ray": "ray" in sys.modules,
    "pandas": "pandas" in sys.modules,
    "numpy": "numpy" in sys.modules,
    "plugins": sorted(m for m in sys.modules if m.startswith("compileiq_")),
    "start_method": multiprocessing.get_start_method(allow_none=True),
}))
"""


def test_import_loads_no_backend_no_pandas_and_sets_no_start_method() -> None:
    out = subprocess.run([sys.executable, "-c", PROBE], capture_output=True, text=True, check=True)
    state = json.loads(out.stdout)
    assert state == {"ray": False, "pandas": False, "numpy": False, "plugins": [], "start_method": None}


def test_lazy_worker_import_loads_only_that_worker_plugin() -> None:
    workers = ["compileiq_sequential", "compileiq_multiprocess", "compileiq_isolated", "compileiq_async",
               "compileiq_ray", "ray"]
    code = (
        "import sys, json; from compileiq.worker import SequentialWorker; "
        f"print(json.dumps([m for m in {workers!r} if m in sys.modules]))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert json.loads(out.stdout) == ["compileiq_sequential"]  # hook-only plugins may load; no other worker


def test_star_import_of_worker_module_needs_no_plugin() -> None:
    code = "from compileiq.worker import *; print(BaseWorker.__name__, Worker is BaseWorker)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.split() == ["BaseWorker", "True"]
