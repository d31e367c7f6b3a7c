"""Plugin discovery: entry points by name, in-process registration, isolation, conflicts, listing."""

from __future__ import annotations

import importlib
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from fake_dists import install_fakes, make_dist
from objectives import quadratic

import compileiq.search_spaces.base as ss
from compileiq import EngineConfig, Search, SearchConfiguration, register_plugin, register_worker
from compileiq.errors import (
    PluginLoadError,
    UnknownWorkerError,
    WorkerConflictError,
    WorkerNotInstalledError,
)
from compileiq.plugins import plugin_failures
from compileiq.registry import list_workers, resolve_worker

pytestmark = pytest.mark.usefixtures("fresh_registries")


@pytest.fixture
def fakes(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.delenv("COMPILEIQ_STRICT_PLUGINS", raising=False)  # CI sets it; these tests want warnings
    root = tmp_path / "site"
    install_fakes(root)
    monkeypatch.syspath_prepend(str(root))
    importlib.invalidate_caches()
    from compileiq.plugins import reset_plugin_manager

    reset_plugin_manager()
    return root


def run_search(cache_dir: Path, worker_type) -> int:
    search = Search(objective_function=quadratic, search_space={"x": ss.range(0, 99)},
                    search_config=SearchConfiguration(generations=2, pool_size=6),
                    worker_type=worker_type, cache_folder=cache_dir, engine=EngineConfig("random", {"seed": 0}))
    return len(search.start().get_results())


def test_worker_from_a_test_only_distribution_is_found_by_name(fakes: Path, cache_dir: Path) -> None:
    with pytest.warns(RuntimeWarning, match="badhooks"):
        cls = resolve_worker("fake")
    assert cls.__module__ == "fake_worker_pkg" and "broken_worker_pkg" not in sys.modules
    assert run_search(cache_dir, "fake") == 12


def test_broken_plugins_are_listed_as_failed_and_others_work(fakes: Path, cache_dir: Path) -> None:
    with pytest.warns(RuntimeWarning):
        infos = {i.name: i for i in list_workers()}
    assert infos["fake"].status == "ok" and infos["fake"].distribution == "compileiq-fake"
    assert infos["broken"].status.startswith("failed: ImportError: libbackend.so")
    assert infos["sequential"].status == "ok"
    assert infos["hooked"].status == "ok" and infos["hooked"].distribution == "compileiq-hooks"
    failures = {f.name: f for f in plugin_failures()}
    assert "boom at import" in failures["badhooks"].error
    with pytest.raises(PluginLoadError, match="compileiq-broken"):
        resolve_worker("broken")
    assert run_search(cache_dir, "sequential") == 12


def test_strict_mode_turns_a_broken_plugin_into_an_error(fakes: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("COMPILEIQ_STRICT_PLUGINS", "1")
    with pytest.raises(PluginLoadError, match="badhooks.*COMPILEIQ_STRICT_PLUGINS"):
        resolve_worker("hooked")


def test_disabled_plugins_and_autoload_switch(fakes: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from compileiq.plugins import get_plugin_manager, reset_plugin_manager

    monkeypatch.setenv("COMPILEIQ_DISABLED_PLUGINS", "badhooks")
    reset_plugin_manager()
    assert resolve_worker("hooked").__name__ == "FakeWorker"
    assert plugin_failures() == []
    monkeypatch.setenv("COMPILEIQ_DISABLE_PLUGIN_AUTOLOAD", "1")
    reset_plugin_manager()
    assert get_plugin_manager().get_plugin("hooks") is None
    with pytest.raises(UnknownWorkerError):
        resolve_worker("hooked")


def test_two_distributions_claiming_one_name_is_an_error_naming_both(tmp_path: Path, monkeypatch) -> None:
    root = tmp_path / "site"
    source = "from compileiq.worker import BaseWorker\nclass W(BaseWorker):\n    name = 'dup'\n"
    make_dist(root, "compileiq-dup-one", "dup_one", source, {"compileiq.workers": {"dup": "dup_one:W"}})
    make_dist(root, "compileiq-dup-two", "dup_two", source, {"compileiq.workers": {"dup": "dup_two:W"}})
    monkeypatch.syspath_prepend(str(root))
    importlib.invalidate_caches()
    with pytest.raises(WorkerConflictError, match="compileiq-dup-one.*compileiq-dup-two|compileiq-dup-two.*one"):
        resolve_worker("dup")


def test_entry_point_name_must_match_the_class_name(tmp_path: Path, monkeypatch) -> None:
    root = tmp_path / "site"
    source = "from compileiq.worker import BaseWorker\nclass W(BaseWorker):\n    name = 'other'\n"
    make_dist(root, "compileiq-misnamed", "misnamed", source, {"compileiq.workers": {"misnamed": "misnamed:W"}})
    monkeypatch.syspath_prepend(str(root))
    importlib.invalidate_caches()
    with pytest.raises(PluginLoadError, match="declares name='other'"):
        resolve_worker("misnamed")


def _missing_first_party() -> tuple[str, str, str] | None:
    """A first-party worker whose distribution is not installed here (name, dist, class), if any."""
    from importlib.metadata import PackageNotFoundError, distribution

    for name, dist, cls in [("ray", "compileiq-ray", "RayWorker"), ("isolated", "compileiq-isolated",
                            "IsoMultiProcessWorker"), ("async", "compileiq-async", "AsyncWorker")]:
        try:
            distribution(dist)
        except PackageNotFoundError:
            return name, dist, cls
    return None


def test_missing_first_party_and_unknown_names() -> None:
    missing = _missing_first_party()
    if missing is not None:
        name, dist, cls = missing
        with pytest.raises(WorkerNotInstalledError, match=f"pip install {dist}") as info:
            resolve_worker(name)
        assert isinstance(info.value, ImportError)
        with pytest.raises(ImportError, match=dist):
            getattr(importlib.import_module("compileiq.worker"), cls)
    with pytest.raises(UnknownWorkerError, match="Installed workers: .*sequential.*Did you mean 'sequential'"):
        resolve_worker("sequentail")


def test_in_process_registration_and_hook_registration(cache_dir: Path) -> None:
    from compileiq_sequential import SequentialWorker

    class Local(SequentialWorker):
        name = "local"

    register_worker("local", Local)
    assert resolve_worker("local") is Local
    assert run_search(cache_dir, "local") == 12

    class Hooks:
        from compileiq import hookimpl

        @hookimpl
        def compileiq_register_workers(self, registry) -> None:
            registry.register("via-hook", Local)

    register_plugin(Hooks(), name="test-hooks")
    assert resolve_worker("via-hook") is Local


def test_misspelled_hook_implementation_fails_loudly() -> None:
    from pluggy import PluginValidationError

    from compileiq import hookimpl

    class Typo:
        @hookimpl
        def compileiq_serach_start(self, search) -> None:
            pass

    with pytest.raises(PluginValidationError, match="compileiq_serach_start"):
        register_plugin(Typo(), name="typo")


def test_hooks_see_the_search_lifecycle(cache_dir: Path) -> None:
    from compileiq import hookimpl

    events: list[tuple] = []

    class Recorder:
        @hookimpl
        def compileiq_search_start(self, search, run_info) -> None:
            events.append(("start", run_info["worker"], run_info["seed"]))

        @hookimpl
        def compileiq_evaluation(self, score, generation) -> None:
            events.append(("eval", generation))

        @hookimpl
        def compileiq_generation_end(self, generation, scores) -> None:
            events.append(("gen", generation, len(scores)))

        @hookimpl
        def compileiq_search_end(self, result, error) -> None:
            events.append(("end", len(result), error))

    register_plugin(Recorder(), name="recorder")
    run_search(cache_dir, "sequential")
    assert events[0] == ("start", "sequential", 0)
    assert events[1:7] == [("eval", 0)] * 6 and events[7] == ("gen", 0, 6)
    assert events[-1] == ("end", 12, None)


def test_cli_lists_workers_with_failures(fakes: Path) -> None:
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(fakes), os.environ.get("PYTHONPATH", "")])}
    env.pop("COMPILEIQ_STRICT_PLUGINS", None)
    out = subprocess.run([sys.executable, "-m", "compileiq", "workers", "--json"], capture_output=True,
                         text=True, env=env)
    rows = {r["name"]: r for r in json.loads(out.stdout)}
    assert out.returncode == 1  # something failed
    assert rows["fake"]["status"] == "ok" and rows["fake"]["version"] == "0.1"
    assert rows["broken"]["status"].startswith("failed")
    assert rows["(hooks) badhooks"]["status"].startswith("failed: RuntimeError: boom at import")
    assert rows["multiprocess"]["distribution"] == "compileiq-multiprocess"
    table = subprocess.run([sys.executable, "-m", "compileiq", "workers"], capture_output=True, text=True, env=env)
    assert "compileiq-fake" in table.stdout and "hooks plugin says hello" in table.stdout


def test_cli_json_without_fakes_is_all_ok() -> None:
    script = Path(sys.executable).parent / "compileiq"  # the console script of this environment
    out = subprocess.run([str(script), "workers", "--json"], capture_output=True, text=True, check=True)
    rows = {r["name"]: r["status"] for r in json.loads(out.stdout)}
    assert rows["sequential"] == rows["multiprocess"] == "ok"


def _plugins_json(fakes: Path, **env_vars: str) -> tuple[int, dict[str, dict]]:
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(fakes), os.environ.get("PYTHONPATH", "")]), **env_vars}
    out = subprocess.run([sys.executable, "-m", "compileiq", "plugins", "--json"], capture_output=True, text=True,
                         env=env, timeout=120)
    assert out.stdout, out.stderr
    return out.returncode, {r["distribution"]: r for r in json.loads(out.stdout)}


def test_cli_plugins_lists_every_distribution_with_hooks_provides_and_status(fakes: Path) -> None:
    code, rows = _plugins_json(fakes, COMPILEIQ_STRICT_PLUGINS="1")  # a listing reports, even in strict mode
    assert code == 1  # something failed
    assert rows["compileiq-badhooks"]["status"] == "failed: hook plugin 'badhooks': RuntimeError: boom at import"
    assert rows["compileiq-broken"]["status"].startswith("failed: worker 'broken': ImportError: libbackend")
    hooks = rows["compileiq-hooks"]
    assert hooks["status"] == "ok" and hooks["version"] == "0.1" and hooks["hook_plugins"] == ["hooks"]
    assert hooks["hooks"] == ["compileiq_register_workers", "compileiq_report_header"]
    assert hooks["workers"] == ["hooked"]  # registered by its hook, credited to its distribution
    assert rows["compileiq-fake"]["workers"] == ["fake"] and rows["compileiq-fake"]["status"] == "ok"
    core = rows["compileiq-core"]
    assert core["status"] == "ok" and core["engines"] == ["genetic", "random"]
    assert {"disabled", "loguru"} <= set(core["trackers"])
    assert rows["compileiq-sequential"]["workers"] == ["sequential"]


def test_cli_plugins_allow_and_disable_lists(fakes: Path) -> None:
    _, rows = _plugins_json(fakes, COMPILEIQ_ENABLED_PLUGINS="compileiq-hooks")  # a distribution name works too
    assert rows["compileiq-hooks"]["status"] == "ok" and rows["compileiq-hooks"]["workers"] == ["hooked"]
    assert rows["compileiq-badhooks"]["status"] == "disabled: not in COMPILEIQ_ENABLED_PLUGINS"
    _, rows = _plugins_json(fakes, COMPILEIQ_ENABLED_PLUGINS="hooks,badhooks", COMPILEIQ_DISABLED_PLUGINS="badhooks")
    assert rows["compileiq-badhooks"]["status"] == "disabled by COMPILEIQ_DISABLED_PLUGINS"
    assert rows["compileiq-hooks"]["status"] == "ok"
    code, rows = _plugins_json(fakes, COMPILEIQ_DISABLE_PLUGIN_AUTOLOAD="1")
    assert rows["compileiq-hooks"]["status"] == "disabled by COMPILEIQ_DISABLE_PLUGIN_AUTOLOAD"
    assert rows["compileiq-hooks"]["hooks"] == [] and rows["compileiq-hooks"]["workers"] == []


def test_allow_list_loads_only_the_named_hook_plugins(fakes: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from compileiq.plugins import get_plugin_manager, reset_plugin_manager

    monkeypatch.setenv("COMPILEIQ_ENABLED_PLUGINS", "hooks")
    reset_plugin_manager()
    assert resolve_worker("hooked").__name__ == "FakeWorker"
    assert plugin_failures() == [] and get_plugin_manager().get_plugin("badhooks") is None
    assert "badhooks_pkg" not in sys.modules
