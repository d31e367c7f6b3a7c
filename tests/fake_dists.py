"""Build throw-away distributions (dist-info + module) on disk, to test plugin discovery for real."""

from __future__ import annotations

import textwrap
from pathlib import Path


def make_dist(root: Path, dist: str, module: str, source: str, entry_points: dict[str, dict[str, str]],
              version: str = "0.1") -> None:
    """Write `module` (a package) and a `<dist>-<version>.dist-info` declaring `entry_points`."""
    package = root / module
    package.mkdir(parents=True, exist_ok=True)
    (package / "__init__.py").write_text(textwrap.dedent(source))
    info = root / f"{dist.replace('-', '_')}-{version}.dist-info"
    info.mkdir()
    (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {dist}\nVersion: {version}\n")
    lines = []
    for group, entries in entry_points.items():
        lines.append(f"[{group}]")
        lines += [f"{name} = {target}" for name, target in entries.items()]
    (info / "entry_points.txt").write_text("\n".join(lines) + "\n")


FAKE_WORKER = """
from compileiq.worker import BaseWorker
from compileiq.evaluation import evaluate

class FakeWorker(BaseWorker):
    name = "fake"

    def run(self, *, function, params_pool, params_ids, num_function_returns=1, **kwargs):
        return [evaluate(function, p, param_id=i, num_objectives=num_function_returns, worker="fake")
                for p, i in zip(params_pool, params_ids)]
"""

BROKEN_WORKER = """
raise ImportError("libbackend.so: cannot open shared object file")
"""

HOOKS = """
from compileiq import hookimpl

@hookimpl
def compileiq_register_workers(registry):
    registry.register("hooked", "fake_worker_pkg:FakeWorker")

@hookimpl
def compileiq_report_header():
    return "hooks plugin says hello"
"""


def install_fakes(root: Path) -> None:
    """The fake worker, a broken worker, a hook plugin and a broken hook plugin."""
    make_dist(root, "compileiq-fake", "fake_worker_pkg", FAKE_WORKER,
              {"compileiq.workers": {"fake": "fake_worker_pkg:FakeWorker"}})
    make_dist(root, "compileiq-broken", "broken_worker_pkg", BROKEN_WORKER,
              {"compileiq.workers": {"broken": "broken_worker_pkg:Worker"}})
    make_dist(root, "compileiq-hooks", "hooks_pkg", HOOKS, {"compileiq": {"hooks": "hooks_pkg"}})
    make_dist(root, "compileiq-badhooks", "badhooks_pkg", "raise RuntimeError('boom at import')\n",
              {"compileiq": {"badhooks": "badhooks_pkg"}})
