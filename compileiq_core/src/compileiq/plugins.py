"""The pluggy plugin manager: lazy, fault-isolated loading of the `compileiq` entry-point group.

Environment switches:
- `COMPILEIQ_DISABLE_PLUGIN_AUTOLOAD=1`: load no hook plugin from entry points.
- `COMPILEIQ_DISABLED_PLUGINS=a,b`: block those hook plugins (entry-point or distribution names).
- `COMPILEIQ_ENABLED_PLUGINS=a,b`: load only those hook plugins (the disable list still wins).
- `COMPILEIQ_STRICT_PLUGINS=1`: a plugin that fails to load is an error, not a warning.
"""

from __future__ import annotations

import os
import threading
import warnings
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import pluggy

from compileiq import hookspecs
from compileiq.errors import PluginLoadError

__all__ = [
    "HookPlugin",
    "PluginFailure",
    "blocked_plugins",
    "call_each",
    "distribution_of",
    "enabled_plugins",
    "generation",
    "get_plugin_manager",
    "hook_plugins",
    "lenient",
    "plugin_failures",
    "record_failure",
    "register_plugin",
    "reset_plugin_manager",
    "strict_plugins",
    "unregister_plugin",
    "why_disabled",
]

GROUP = "compileiq"


@dataclass(frozen=True)
class PluginFailure:
    """A plugin that could not be loaded."""

    kind: str  # "hooks", "worker" or "engine"
    name: str
    distribution: str | None
    version: str | None
    error: str


_lock = threading.RLock()
_manager: pluggy.PluginManager | None = None
_failures: list[PluginFailure] = []
_origins: dict[str, tuple[str | None, str | None]] = {}
_generation = 0


def _flag(name: str) -> bool:
    return os.environ.get(name, "").strip().lower() in ("1", "true", "yes", "on")


_lenient = 0


def strict_plugins() -> bool:
    """True when `COMPILEIQ_STRICT_PLUGINS` asks for load failures to be errors (not inside `lenient()`)."""
    return _flag("COMPILEIQ_STRICT_PLUGINS") and not _lenient


@contextmanager
def lenient() -> Iterator[None]:
    """Record load failures without raising, even in strict mode (listings report them instead)."""
    global _lenient
    with _lock:
        _lenient += 1
    try:
        yield
    finally:
        with _lock:
            _lenient -= 1


def _names(variable: str) -> set[str]:
    return {n.strip().lower() for n in os.environ.get(variable, "").split(",") if n.strip()}


def blocked_plugins() -> set[str]:
    """Plugin names blocked by `COMPILEIQ_DISABLED_PLUGINS`."""
    return {n.strip() for n in os.environ.get("COMPILEIQ_DISABLED_PLUGINS", "").split(",") if n.strip()}


def enabled_plugins() -> set[str] | None:
    """Plugin names allowed by `COMPILEIQ_ENABLED_PLUGINS` (None: the variable is unset or empty)."""
    return _names("COMPILEIQ_ENABLED_PLUGINS") or None


def _normal(name: str) -> str:
    return name.strip().lower().replace("_", "-")


def why_disabled(name: str, distribution: str | None) -> str | None:
    """Why the hook plugin `name` (entry-point name) of `distribution` is not loaded, or None.

    Both lists match the entry-point name or the distribution name; the disable list wins.
    """
    keys = {_normal(name)} | ({_normal(distribution)} if distribution else set())
    if keys & {_normal(n) for n in blocked_plugins()}:
        return "disabled by COMPILEIQ_DISABLED_PLUGINS"
    allowed = enabled_plugins()
    if allowed is not None and not keys & {_normal(n) for n in allowed}:
        return "disabled: not in COMPILEIQ_ENABLED_PLUGINS"
    if _flag("COMPILEIQ_DISABLE_PLUGIN_AUTOLOAD"):
        return "disabled by COMPILEIQ_DISABLE_PLUGIN_AUTOLOAD"
    return None


def record_failure(failure: PluginFailure) -> None:
    """Report a plugin that failed to load: raise in strict mode, else warn once and go on."""
    with _lock:
        if failure in _failures:
            return
        _failures.append(failure)
    where = f" from {failure.distribution} {failure.version}" if failure.distribution else ""
    message = (
        f"compileiq {failure.kind} plugin {failure.name!r}{where} failed to load: {failure.error}. "
        f"The other plugins keep working; upgrade or uninstall {failure.distribution or 'it'}."
    )
    if strict_plugins():
        raise PluginLoadError(message + " (COMPILEIQ_STRICT_PLUGINS is set)")
    warnings.warn(message, RuntimeWarning, stacklevel=3)


def plugin_failures() -> list[PluginFailure]:
    """Every plugin that failed to load so far."""
    get_plugin_manager()
    return list(_failures)


@dataclass(frozen=True)
class HookPlugin:
    """A hook plugin of the `compileiq` entry-point group (or registered in process) and its state."""

    name: str
    distribution: str | None
    version: str | None
    status: str  # "ok", "failed: <reason>" or "disabled ..."
    hooks: tuple[str, ...] = ()


def _load_entry_points(pm: pluggy.PluginManager) -> None:
    from importlib.metadata import entry_points

    for name in blocked_plugins():
        pm.set_blocked(name)
    for ep in entry_points(group=GROUP):
        dist = getattr(ep, "dist", None)
        dist_name, version = (dist.name, dist.version) if dist else (None, None)
        if pm.has_plugin(ep.name) or ep.name in _origins:
            continue
        _origins[ep.name] = (dist_name, version)
        if why_disabled(ep.name, dist_name):
            continue
        try:
            plugin = ep.load()
            pm.register(plugin, name=ep.name)
        except Exception as exc:  # noqa: BLE001 - isolate every plugin
            record_failure(PluginFailure("hooks", ep.name, dist_name, version, f"{type(exc).__name__}: {exc}"))


def get_plugin_manager() -> pluggy.PluginManager:
    """The process-wide plugin manager, created and loaded on first use."""
    global _manager
    if _manager is not None:
        return _manager
    with _lock:
        if _manager is None:
            pm = pluggy.PluginManager("compileiq")
            pm.add_hookspecs(hookspecs)
            _origins.clear()
            _load_entry_points(pm)
            pm.check_pending()
            _manager = pm
    return _manager


def generation() -> int:
    """A number that changes whenever the set of hook plugins may have changed (caches key on it)."""
    return _generation


def _changed() -> None:
    global _generation
    with _lock:
        _generation += 1


def distribution_of(plugin_name: str) -> tuple[str | None, str | None]:
    """The distribution and version a hook plugin was loaded from ((None, None): in process)."""
    return _origins.get(plugin_name, (None, None))


def call_each(hook: str, arguments: Callable[[str], dict[str, Any]]) -> list[tuple[str, Any]]:
    """Call each implementation of `hook` on its own, with `arguments(plugin_name)` (the subset it
    accepts): (plugin name, result) pairs. One that raises is reported as a failed plugin
    (`record_failure`) and left out; the others still count."""
    results: list[tuple[str, Any]] = []
    for impl in getattr(get_plugin_manager().hook, hook).get_hookimpls():
        given = arguments(impl.plugin_name)
        try:
            results.append((impl.plugin_name, impl.function(*[given[a] for a in impl.argnames])))
        except Exception as exc:  # noqa: BLE001 - isolate every plugin
            dist, version = distribution_of(impl.plugin_name)
            record_failure(PluginFailure("hooks", impl.plugin_name, dist, version,
                                         f"{hook} raised {type(exc).__name__}: {exc}"))
    return results


def hook_plugins() -> list[HookPlugin]:
    """Every hook plugin: loaded (with the hooks it implements), failed, or disabled (and why)."""
    pm = get_plugin_manager()
    failed = {f.name: f for f in _failures if f.kind == "hooks"}
    found: list[HookPlugin] = []
    names = [*_origins, *(n for n, _ in pm.list_name_plugin() if n not in _origins)]
    for name in names:
        dist, version = distribution_of(name)
        plugin = pm.get_plugin(name)
        hooks = tuple(sorted(c.name for c in pm.get_hookcallers(plugin) or [])) if plugin is not None else ()
        if name in failed:
            status = f"failed: {failed[name].error}"
        elif plugin is not None:
            status = "ok"
        else:
            status = why_disabled(name, dist) or "disabled"
        found.append(HookPlugin(name, dist, version, status, hooks))
    return found


def register_plugin(plugin: Any, name: str | None = None) -> str | None:
    """Register a module or object of hook implementations in this process (notebooks, tests)."""
    pm = get_plugin_manager()
    registered = pm.register(plugin, name=name)
    pm.check_pending()
    _changed()
    return registered


def unregister_plugin(plugin: Any = None, name: str | None = None) -> None:
    """Undo `register_plugin`."""
    get_plugin_manager().unregister(plugin, name=name)
    _changed()


def reset_plugin_manager() -> None:
    """Forget every loaded plugin and failure (tests); the next use loads them again."""
    global _manager
    with _lock:
        _manager = None
        _failures.clear()
        _origins.clear()
    _changed()
