"""`compileiq.processes` is the public process toolkit: plugins build on it, never on each other."""

from __future__ import annotations

import ast
import json
import re
import subprocess
import sys
import warnings
from pathlib import Path

import pytest

pytest_plugins = ["pytester"]

ROOT = Path(__file__).parents[1]
PLUGIN_PACKAGES = {p.name: {d.name for d in (p / "src").iterdir() if d.is_dir() and not d.name.startswith(("_", "."))}
                   for p in sorted((ROOT / "plugins").iterdir()) if (p / "src").is_dir()}


def imported_modules(path: Path) -> set[str]:
    """Top-level names of every module `path` imports (at any depth, lazily or not)."""
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            found |= {alias.name.split(".")[0] for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
            found.add(node.module.split(".")[0])
        elif isinstance(node, ast.Call) and getattr(node.func, "id", getattr(node.func, "attr", "")) in (
            "import_module", "__import__"
        ) and node.args and isinstance(node.args[0], ast.Constant) and isinstance(node.args[0].value, str):
            found.add(node.args[0].value.split(".")[0])
    return found


def test_no_plugin_imports_another_plugin() -> None:
    assert len(PLUGIN_PACKAGES) >= 6, PLUGIN_PACKAGES
    offenders = []
    for plugin in PLUGIN_PACKAGES:
        others = set().union(*(pkgs for name, pkgs in PLUGIN_PACKAGES.items() if name != plugin))
        for source in (ROOT / "plugins" / plugin / "src").rglob("*.py"):
            if bad := imported_modules(source) & others:
                offenders.append(f"{source.relative_to(ROOT)} imports {sorted(bad)}")
    assert not offenders, "a plugin imports another plugin (build on compileiq.processes instead):\n" + "\n".join(
        offenders)


def test_the_import_ban_sees_a_lazy_import(tmp_path: Path) -> None:
    source = tmp_path / "x.py"
    source.write_text("def f():\n    from compileiq_multiprocess.processes import kill_group\n")
    assert "compileiq_multiprocess" in imported_modules(source)


@pytest.mark.parametrize("plugin", ["compileiq-isolated", "compileiq-multiprocess"])
def test_process_workers_depend_on_the_core_only(plugin: str) -> None:
    import tomllib

    deps = tomllib.loads((ROOT / "plugins" / plugin / "pyproject.toml").read_text())["project"]["dependencies"]
    assert [re.split(r"[<>=!~ ]", d)[0] for d in deps] == ["compileiq-core"]


def test_import_compileiq_does_not_load_the_toolkit_nor_cloudpickle() -> None:
    code = ("import sys, json, compileiq, compileiq.ciq; a = sorted(m for m in ('compileiq.processes', 'cloudpickle') "
            "if m in sys.modules); import compileiq.processes; "
            "print(json.dumps([a, 'cloudpickle' in sys.modules]))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert json.loads(out.stdout) == [[], False], "cloudpickle loads only when an objective is serialized"


def test_old_import_path_warns_and_gives_the_same_names() -> None:
    import compileiq.processes as core

    sys.modules.pop("compileiq_multiprocess.processes", None)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        import compileiq_multiprocess.processes as old
    assert any(issubclass(w.category, DeprecationWarning) and "compileiq.processes" in str(w.message)
               for w in caught), [str(w.message) for w in caught]
    assert old.kill_group is core.kill_group and old.ChildSupervisor is core.ChildSupervisor
    assert set(old.__all__) == set(core.__all__)


def test_crash_wording_is_shared() -> None:
    from compileiq.processes import crash_reason

    assert "SIGSEGV" in crash_reason(-11) and "code 3" in crash_reason(3)


def docs_worker_source() -> str:
    page = (ROOT / "docs" / "process-workers.md").read_text()
    [code] = [c for c in re.findall(r"```python\n(.*?)```", page, re.S) if "class FreshProcessWorker" in c]
    return code


def test_docs_worker_is_about_sixty_lines() -> None:
    worker_part = docs_worker_source().split("\ndef objective")[0]
    assert len([line for line in worker_part.splitlines() if line.strip()]) <= 65


def test_docs_worker_passes_the_conformance_kit(pytester: pytest.Pytester) -> None:
    """The page's worker, as written, against the whole worker contract (crashes, timeouts, ...)."""
    pytester.makepyfile(ciq_docs_process_worker=docs_worker_source())
    pytester.makepyfile(test_docs_worker='''
        from compileiq.registry import register_worker
        from compileiq.testing import WorkerConformanceSuite
        from ciq_docs_process_worker import FreshProcessWorker

        register_worker("fresh-process", FreshProcessWorker)


        class TestFreshProcess(WorkerConformanceSuite):
            __test__ = True
            worker_type = "fresh-process"
            requires_entry_point = False
            timeout_slack = 8.0
    ''')
    result = pytester.runpytest_subprocess("-q", "-p", "no:cacheprovider", "-W", "ignore::RuntimeWarning")
    outcomes = result.parseoutcomes()
    assert outcomes.get("passed", 0) >= 20 and not outcomes.get("failed") and not outcomes.get("errors"), \
        "\n".join(result.outlines[-40:])
