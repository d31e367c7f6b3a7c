"""One registry mechanism for workers, engines and trackers: claims, conflicts, snapshots, layering."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

import compileiq
from compileiq import hookimpl, register_plugin, registry
from compileiq.errors import NameConflictError, PluginLoadError, UnknownTrackerError
from compileiq.tracker import BaseTracker, DisabledTracker, build_tracker, tracker_class
from compileiq.types import TrackerConfig

pytestmark = pytest.mark.usefixtures("fresh_registries")

CORE = Path(compileiq.__file__).parent


class Recorder(DisabledTracker):
    """A tracker type for these tests."""


class Other(DisabledTracker):
    """A second tracker type, to collide with the first."""


def _tracker_plugin(name: str, target: object) -> object:
    class Plugin:
        @hookimpl
        def compileiq_register_trackers(self, registry: registry.Registrar) -> None:
            registry.register(name, target)

    return Plugin()


def test_tracker_hook_registers_a_type_that_tracker_config_builds() -> None:
    register_plugin(_tracker_plugin("recorder", Recorder), name="recorder-plugin")
    assert tracker_class("recorder") is Recorder
    assert isinstance(build_tracker(TrackerConfig(type="recorder")), Recorder)
    infos = {i.name: i for i in registry.list_trackers()}
    assert infos["recorder"].status == "ok" and infos["loguru"].status == "ok"


def test_two_plugins_claiming_one_tracker_name_is_an_error_naming_both() -> None:
    register_plugin(_tracker_plugin("twice", Recorder), name="first-plugin")
    register_plugin(_tracker_plugin("twice", Other), name="second-plugin")
    with pytest.raises(NameConflictError, match="'twice'.*first-plugin.*second-plugin|second-plugin.*first-plugin"):
        tracker_class("twice")
    assert tracker_class("disabled") is DisabledTracker  # the other names keep working
    status = {i.name: i.status for i in registry.list_trackers()}["twice"]
    assert status.startswith("conflict:") and "first-plugin" in status and "second-plugin" in status


def test_the_legacy_mapping_hook_is_checked_the_same_way() -> None:
    class Legacy:
        @hookimpl
        def compileiq_tracker_types(self) -> dict[str, object]:
            return {"twice": Other}

    register_plugin(_tracker_plugin("twice", Recorder), name="new-style")
    register_plugin(Legacy(), name="old-style")
    with pytest.raises(NameConflictError, match="new-style|old-style"):
        tracker_class("twice")


def test_a_plugin_cannot_take_a_built_in_tracker_name() -> None:
    register_plugin(_tracker_plugin("loguru", Recorder), name="squatter")
    with pytest.raises(NameConflictError, match="compileiq-core.*squatter|squatter.*compileiq-core"):
        tracker_class("loguru")


def test_unknown_tracker_and_wrong_class() -> None:
    with pytest.raises(UnknownTrackerError, match="tracker type 'nope' is unknown.*loguru"):
        tracker_class("nope")
    register_plugin(_tracker_plugin("not-a-tracker", dict), name="wrong")
    with pytest.raises(PluginLoadError, match="not a subclass of BaseTracker"):
        tracker_class("not-a-tracker")
    assert issubclass(tracker_class("disabled"), BaseTracker)


def test_a_registration_hook_that_raises_is_isolated(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("COMPILEIQ_STRICT_PLUGINS", raising=False)

    class Broken:
        @hookimpl
        def compileiq_register_trackers(self, registry: registry.Registrar) -> None:
            raise RuntimeError("registration exploded")

    register_plugin(Broken(), name="broken-registrar")
    register_plugin(_tracker_plugin("recorder", Recorder), name="fine")
    with pytest.warns(RuntimeWarning, match="broken-registrar.*registration exploded"):
        assert tracker_class("recorder") is Recorder


def test_snapshot_and_restore_cover_every_kind() -> None:
    saved = registry.snapshot()
    compileiq.register_worker("snap-worker", "compileiq.worker:BaseWorker")
    compileiq.register_engine("snap-engine", "compileiq.engines.random:RandomEngine")
    registry.register_tracker("snap-tracker", Recorder)
    assert registry.resolve_tracker("snap-tracker") is Recorder
    taken = registry.snapshot()
    assert taken.manual["tracker"] == {"snap-tracker": Recorder}
    assert "snap-engine" in taken.manual["engine"] and "snap-worker" in taken.manual["worker"]
    registry.restore(saved)
    assert "snap-tracker" not in registry.tracker_registry.names()
    with pytest.raises(UnknownTrackerError):
        registry.resolve_tracker("snap-tracker")
    registry.restore(taken)
    assert registry.resolve_tracker("snap-tracker") is Recorder


def _imports(path: Path, *, runtime_only: bool) -> set[str]:
    tree = ast.parse(path.read_text())
    skipped: set[int] = set()
    if runtime_only:
        for node in ast.walk(tree):
            if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test):
                skipped |= {id(n) for n in ast.walk(node)}
    found: set[str] = set()
    for node in ast.walk(tree):
        if id(node) in skipped:
            continue
        if isinstance(node, ast.ImportFrom) and node.module:
            found |= {node.module, *(f"{node.module}.{a.name}" for a in node.names)}
        elif isinstance(node, ast.Import):
            found |= {a.name for a in node.names}
    return found


def test_plugins_never_imports_the_registry() -> None:
    """The layering: registry -> plugins, never back (not even inside a function)."""
    assert not {m for m in _imports(CORE / "plugins.py", runtime_only=False) if "registry" in m}
    assert "compileiq.plugins" in _imports(CORE / "registry.py", runtime_only=True) or \
        "compileiq" in _imports(CORE / "registry.py", runtime_only=True)


def test_the_generic_registry_does_not_branch_on_its_kind() -> None:
    source = (CORE / "registry.py").read_text()
    assert "kind ==" not in source and 'kind == "worker"' not in source


def test_a_first_party_name_not_installed_names_the_package() -> None:
    from compileiq.errors import NameConflictError as Conflict
    from compileiq.errors import TrackerNotInstalledError

    local = registry.NamedRegistry(
        kind="tracker", group="compileiq.test-trackers", hooks=("compileiq_register_trackers",),
        base="compileiq.tracker:BaseTracker", name_attribute=None, first_party={"fancy": "compileiq-fancy"},
        unknown_error=UnknownTrackerError, not_installed_error=TrackerNotInstalledError, conflict_error=Conflict,
        not_installed="tracker type {name!r} needs the {dist} plugin; pip install {dist}",
        unknown="tracker type {name!r} is unknown; installed: {installed}.{hint}",
    )
    with pytest.raises(TrackerNotInstalledError, match="tracker type 'fancy' needs the compileiq-fancy plugin") as info:
        local.resolve("fancy")
    assert isinstance(info.value, RuntimeError) and isinstance(info.value, ImportError)  # old and new contracts
    with pytest.raises(UnknownTrackerError, match="'fancie' is unknown.*Did you mean .fancy.*pip install"):
        local.resolve("fancie")
