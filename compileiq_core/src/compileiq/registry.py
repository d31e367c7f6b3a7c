"""Name-keyed registries of workers (`compileiq.workers`) and engines (`compileiq.engines`).

A name resolves, in order, to: an in-process registration (`register_worker` or the
`compileiq_register_workers` hook), then the one entry point of that name. Only that entry
point is imported, once. Two distributions claiming one name is an error naming both.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass
from importlib import import_module
from typing import TYPE_CHECKING, Any

from compileiq.errors import (
    EngineNotInstalledError,
    NameConflictError,
    NotInstalledError,
    PluginLoadError,
    UnknownEngineError,
    UnknownNameError,
    UnknownWorkerError,
    WorkerConflictError,
    WorkerNotInstalledError,
)

if TYPE_CHECKING:
    from importlib.metadata import EntryPoint

    from compileiq.engines.base import Engine
    from compileiq.worker import BaseWorker

__all__ = [
    "PluginInfo",
    "Registrar",
    "engine_registry",
    "list_engines",
    "list_workers",
    "register_engine",
    "register_worker",
    "resolve_engine",
    "resolve_worker",
    "worker_registry",
]


@dataclass(frozen=True)
class PluginInfo:
    """One name in a registry, as `compileiq workers` lists it."""

    name: str
    target: str
    distribution: str | None
    version: str | None
    status: str  # "ok", "failed: <reason>", "conflict: ..." or "not loaded"

    def as_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "target": self.target,
            "distribution": self.distribution,
            "version": self.version,
            "status": self.status,
        }


def _target_text(target: Any) -> str:
    return target if isinstance(target, str) else f"{target.__module__}:{target.__qualname__}"


def _load_target(target: Any) -> Any:
    if not isinstance(target, str):
        return target
    module, _, attr = target.partition(":")
    obj: Any = import_module(module)
    for part in attr.split(".") if attr else []:
        obj = getattr(obj, part)
    return obj


def _check_name(kind: str, name: object) -> str:
    if not isinstance(name, str) or not name.strip():
        raise ValueError(f"{kind} name {name!r} must be a non-empty string.")
    return name


class Registrar:
    """What the `compileiq_register_*` hooks receive: call `register(name, target)`."""

    def __init__(self, kind: str, into: dict[str, Any]) -> None:
        self._kind = kind
        self._into = into

    def register(self, name: str, target: Any) -> None:
        """Register `target` (a class or a "module:Class" string) under `name`."""
        self._into[_check_name(self._kind, name)] = target


class NamedRegistry:
    """Resolves names of one plugin kind to classes, lazily, through entry points."""

    def __init__(
        self,
        *,
        kind: str,
        group: str,
        hook: str,
        first_party: dict[str, str],
        aliases: dict[str, str],
        unknown_error: type[UnknownNameError],
        not_installed_error: type[NotInstalledError],
        conflict_error: type[NameConflictError],
    ) -> None:
        self.kind = kind
        self.group = group
        self.hook = hook
        self.first_party = first_party
        self.aliases = aliases
        self._unknown_error = unknown_error
        self._not_installed_error = not_installed_error
        self._conflict_error = conflict_error
        self._lock = threading.RLock()
        self.reset()

    def reset(self) -> None:
        """Forget scans, hook registrations and loaded classes (tests, new plugins)."""
        with self._lock:
            self._manual: dict[str, Any] = getattr(self, "_manual", {})
            self._hooked: dict[str, Any] | None = None
            self._scan: dict[str, list[EntryPoint]] | None = None
            self._loaded: dict[str, Any] = {}

    # -- sources ---------------------------------------------------------------------------

    def register(self, name: str, target: Any) -> None:
        """Register a class or "module:Class" under `name` in this process."""
        _check_name(self.kind, name)
        with self._lock:
            self._manual[name] = target
            self._loaded.pop(name, None)

    def unregister(self, name: str) -> None:
        """Remove an in-process registration."""
        with self._lock:
            self._manual.pop(name, None)
            self._loaded.pop(name, None)

    def _hook_registrations(self) -> dict[str, Any]:
        with self._lock:
            if self._hooked is None:
                from compileiq.plugins import get_plugin_manager

                hooked: dict[str, Any] = {}
                getattr(get_plugin_manager().hook, self.hook)(registry=Registrar(self.kind, hooked))
                self._hooked = hooked
            return self._hooked

    def _entry_points(self) -> dict[str, list[EntryPoint]]:
        with self._lock:
            if self._scan is None:
                from importlib.metadata import entry_points

                scan: dict[str, list[EntryPoint]] = {}
                seen: set[tuple[str, str | None]] = set()
                for ep in entry_points(group=self.group):
                    dist = getattr(ep, "dist", None)
                    key = (ep.name, dist.name.lower().replace("_", "-") if dist else None)
                    if key in seen:
                        continue  # the same distribution found twice on sys.path
                    seen.add(key)
                    scan.setdefault(ep.name, []).append(ep)
                self._scan = scan
            return self._scan

    def names(self) -> list[str]:
        """Every name installed or registered (aliases not included)."""
        return sorted({*self._manual, *self._hook_registrations(), *self._entry_points()})

    # -- resolution ------------------------------------------------------------------------

    def canonical(self, name: str) -> str:
        key = name.strip().lower()
        return self.aliases.get(key, key)

    def resolve(self, name: str) -> Any:
        """The class registered under `name` (an alias is followed)."""
        if not isinstance(name, str):
            raise TypeError(f"{self.kind} name {name!r} must be a string.")
        key = self.canonical(name)
        loaded = self._loaded.get(key)
        if loaded is not None:
            return loaded
        with self._lock:
            if key in self._manual:
                cls = self._check(key, _load_target(self._manual[key]), None)
            elif key in self._hook_registrations():
                cls = self._check(key, _load_target(self._hooked[key]), None)  # type: ignore[index]
            else:
                cls = self._from_entry_point(name, key)
            self._loaded[key] = cls
            return cls

    def _from_entry_point(self, name: str, key: str) -> Any:
        eps = self._entry_points().get(key, [])
        if len(eps) > 1:
            dists = ", ".join(f"{ep.dist.name if ep.dist else '?'} ({ep.value})" for ep in eps)
            raise self._conflict_error(
                f"{self.kind} name {key!r} is claimed by several installed distributions: {dists}. "
                "Uninstall all but one of them."
            )
        if not eps:
            raise self._missing(name, key)
        ep = eps[0]
        try:
            obj = ep.load()
        except Exception as exc:
            from compileiq.plugins import PluginFailure, record_failure

            dist = ep.dist
            error = PluginLoadError(
                f"{self.kind} {key!r} from {dist.name if dist else '?'} {dist.version if dist else ''} "
                f"failed to import ({ep.value}): {type(exc).__name__}: {exc}. Upgrade or reinstall that "
                "package; the other plugins keep working."
            )
            try:
                record_failure(
                    PluginFailure(self.kind, key, dist.name if dist else None, dist.version if dist else None,
                                  f"{type(exc).__name__}: {exc}")
                )
            except PluginLoadError:
                pass
            raise error from exc
        return self._check(key, obj, ep)

    def _check(self, key: str, obj: Any, ep: EntryPoint | None) -> Any:
        base = self.base_class()
        source = f"entry point {ep.value!r} of {ep.dist.name if ep and ep.dist else '?'}" if ep else "registration"
        if not isinstance(obj, type) or not issubclass(obj, base):
            raise PluginLoadError(
                f"{self.kind} {key!r} ({source}) is {obj!r}, not a subclass of {base.__name__}."
            )
        declared = getattr(obj, "name", "")
        if ep is not None and declared != key:
            raise PluginLoadError(
                f"{self.kind} {key!r} ({source}) declares name={declared!r}; the class attribute "
                f"`name` must equal the entry-point name {key!r}."
            )
        api = getattr(obj, "plugin_api", None)
        supported = self.plugin_api()
        if api != supported:
            raise PluginLoadError(
                f"{self.kind} {key!r} ({source}) targets plugin API {api!r}; this compileiq-core "
                f"provides {supported}. Upgrade the plugin or compileiq-core so they match."
            )
        return obj

    def base_class(self) -> type:
        if self.kind == "worker":
            from compileiq.worker import BaseWorker

            return BaseWorker
        from compileiq.engines.base import Engine

        return Engine

    def plugin_api(self) -> int:
        if self.kind == "worker":
            from compileiq.worker import PLUGIN_API
        else:
            from compileiq.engines.base import PLUGIN_API
        return PLUGIN_API

    def _missing(self, name: str, key: str) -> Exception:
        if key in self.first_party:
            dist = self.first_party[key]
            return self._not_installed_error(
                f"{self.kind}_type={name!r} is provided by the {dist!r} package, which is not "
                f"installed. Install it with:  pip install {dist}    (or: pip install \"open-compileiq[all]\")"
                if self.kind == "worker"
                else f"engine {name!r} is provided by the {dist!r} package, which is not installed. "
                f"Install it with:  pip install {dist}",
                name=dist,
            )
        import difflib

        installed = self.names()
        candidates = sorted({*installed, *self.first_party, *self.aliases})
        close = difflib.get_close_matches(key, candidates, n=1)
        hint = ""
        if close:
            suggestion = close[0]
            hint = f" Did you mean {suggestion!r}?"
            target = self.aliases.get(suggestion, suggestion)
            if target not in installed and target in self.first_party:
                hint += f" (not installed: pip install {self.first_party[target]})"
        label = "worker_type" if self.kind == "worker" else "engine"
        return self._unknown_error(
            f"Unknown {label} {name!r}. Installed {self.kind}s: {', '.join(installed) or 'none'}.{hint}"
        )

    # -- listing ---------------------------------------------------------------------------

    def describe(self) -> list[PluginInfo]:
        """Every name with its distribution, version and load status (imports plugin modules)."""
        infos: list[PluginInfo] = []
        for name in self.names():
            manual = self._manual.get(name, self._hook_registrations().get(name))
            eps = self._entry_points().get(name, [])
            if manual is not None:
                target, dist, version = _target_text(manual), "(in-process)", None
            elif eps:
                ep = eps[0]
                target = ep.value
                dist = ep.dist.name if ep.dist else None
                version = ep.dist.version if ep.dist else None
            else:  # pragma: no cover - names() only lists known sources
                continue
            try:
                self.resolve(name)
                status = "ok"
            except NameConflictError:
                status = "conflict: " + ", ".join(ep.dist.name if ep.dist else "?" for ep in eps)
            except Exception as exc:  # noqa: BLE001 - listing reports every failure
                cause = exc.__cause__ or exc
                status = f"failed: {type(cause).__name__}: {cause}"
            infos.append(PluginInfo(name, target, dist, version, status))
        return infos


worker_registry = NamedRegistry(
    kind="worker",
    group="compileiq.workers",
    hook="compileiq_register_workers",
    first_party={
        "multiprocess": "compileiq-multiprocess",
        "isolated": "compileiq-isolated",
        "async": "compileiq-async",
        "ray": "compileiq-ray",
        "sequential": "compileiq-sequential",
    },
    aliases={"native": "multiprocess", "default": "multiprocess"},
    unknown_error=UnknownWorkerError,
    not_installed_error=WorkerNotInstalledError,
    conflict_error=WorkerConflictError,
)

engine_registry = NamedRegistry(
    kind="engine",
    group="compileiq.engines",
    hook="compileiq_register_engines",
    first_party={"random": "compileiq-core", "genetic": "compileiq-core"},
    aliases={"amber": "genetic"},
    unknown_error=UnknownEngineError,
    not_installed_error=EngineNotInstalledError,
    conflict_error=NameConflictError,
)


def resolve_worker(name: str) -> type[BaseWorker]:
    """The worker class for a `worker_type` name ("multiprocess", "ray", an alias, ...)."""
    return worker_registry.resolve(name)


def resolve_engine(name: str) -> type[Engine]:
    """The engine class for an engine name ("random", "genetic", ...)."""
    return engine_registry.resolve(name)


def register_worker(name: str, target: Any) -> None:
    """Make a worker class (or "module:Class") available as `worker_type=name` in this process."""
    worker_registry.register(name, target)


def register_engine(name: str, target: Any) -> None:
    """Make an engine class (or "module:Class") available as `engine=name` in this process."""
    engine_registry.register(name, target)


def list_workers() -> list[PluginInfo]:
    """Every installed worker with its distribution, version and status."""
    return worker_registry.describe()


def list_engines() -> list[PluginInfo]:
    """Every installed engine with its distribution, version and status."""
    return engine_registry.describe()


def reset_registries() -> None:
    """Forget cached scans and loaded classes of both registries."""
    worker_registry.reset()
    engine_registry.reset()
