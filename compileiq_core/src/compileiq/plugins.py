"""The pluggy plugin manager: lazy, fault-isolated loading of the `compileiq` entry-point group.

Environment switches:
- `COMPILEIQ_DISABLE_PLUGIN_AUTOLOAD=1`: load no hook plugin from entry points.
- `COMPILEIQ_DISABLED_PLUGINS=a,b`: block those plugin (entry-point) names.
- `COMPILEIQ_STRICT_PLUGINS=1`: a plugin that fails to load is an error, not a warning.
"""

from __future__ import annotations

import os
import threading
import warnings
from dataclasses import dataclass
from typing import Any

import pluggy

from compileiq import hookspecs
from compileiq.errors import PluginLoadError

__all__ = [
    "PluginFailure",
    "get_plugin_manager",
    "plugin_failures",
    "register_plugin",
    "reset_plugin_manager",
    "strict_plugins",
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


def _flag(name: str) -> bool:
    return os.environ.get(name, "").strip().lower() in ("1", "true", "yes", "on")


def strict_plugins() -> bool:
    """True when `COMPILEIQ_STRICT_PLUGINS` asks for load failures to be errors."""
    return _flag("COMPILEIQ_STRICT_PLUGINS")


def blocked_plugins() -> set[str]:
    """Plugin names blocked by `COMPILEIQ_DISABLED_PLUGINS`."""
    return {n.strip() for n in os.environ.get("COMPILEIQ_DISABLED_PLUGINS", "").split(",") if n.strip()}


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


def _load_entry_points(pm: pluggy.PluginManager) -> None:
    from importlib.metadata import entry_points

    blocked = blocked_plugins()
    for name in blocked:
        pm.set_blocked(name)
    if _flag("COMPILEIQ_DISABLE_PLUGIN_AUTOLOAD"):
        return
    for ep in entry_points(group=GROUP):
        if ep.name in blocked or pm.has_plugin(ep.name):
            continue
        dist = getattr(ep, "dist", None)
        try:
            plugin = ep.load()
            pm.register(plugin, name=ep.name)
        except Exception as exc:  # noqa: BLE001 - isolate every plugin
            record_failure(
                PluginFailure(
                    "hooks", ep.name, dist.name if dist else None, dist.version if dist else None,
                    f"{type(exc).__name__}: {exc}",
                )
            )


def get_plugin_manager() -> pluggy.PluginManager:
    """The process-wide plugin manager, created and loaded on first use."""
    global _manager
    if _manager is not None:
        return _manager
    with _lock:
        if _manager is None:
            pm = pluggy.PluginManager("compileiq")
            pm.add_hookspecs(hookspecs)
            _load_entry_points(pm)
            pm.check_pending()
            _manager = pm
    return _manager


def register_plugin(plugin: Any, name: str | None = None) -> str | None:
    """Register a module or object of hook implementations in this process (notebooks, tests)."""
    pm = get_plugin_manager()
    registered = pm.register(plugin, name=name)
    pm.check_pending()
    from compileiq import registry

    registry.reset_registries()
    return registered


def unregister_plugin(plugin: Any = None, name: str | None = None) -> None:
    """Undo `register_plugin`."""
    get_plugin_manager().unregister(plugin, name=name)
    from compileiq import registry

    registry.reset_registries()


def reset_plugin_manager() -> None:
    """Forget every loaded plugin and failure (tests); the next use loads them again."""
    global _manager
    with _lock:
        _manager = None
        _failures.clear()
    from compileiq import registry

    registry.reset_registries()
