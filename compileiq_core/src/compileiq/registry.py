"""Name-keyed registries of workers, engines and trackers: one mechanism for the three kinds.

A name resolves, in order, to: an in-process registration (`register_worker`, ...), else the
one *claim* on it. Claims come from the core's built-ins, from the registration hooks
(`compileiq_register_workers(registry)`, ...) and from the entry-point group of the kind
(`compileiq.workers`, ...). Only the claimed entry point is imported, once. Two distributions
(or two hook plugins) claiming one name is an error naming both; the other names keep working.

This module depends on `compileiq.plugins` (the plugin manager), never the other way round:
the registries notice a new or reset plugin manager through `plugins.generation()`.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from importlib import import_module
from typing import TYPE_CHECKING, Any

from compileiq import plugins
from compileiq.errors import (
    EngineNotInstalledError,
    NameConflictError,
    NotInstalledError,
    PluginLoadError,
    TrackerNotInstalledError,
    UnknownEngineError,
    UnknownNameError,
    UnknownTrackerError,
    UnknownWorkerError,
    WorkerConflictError,
    WorkerNotInstalledError,
)

if TYPE_CHECKING:
    from importlib.metadata import EntryPoint

    from compileiq.engines.base import Engine
    from compileiq.tracker import BaseTracker
    from compileiq.worker import BaseWorker

__all__ = [
    "Claim",
    "NamedRegistry",
    "PluginInfo",
    "Registrar",
    "RegistrySnapshot",
    "engine_registry",
    "list_engines",
    "list_trackers",
    "list_workers",
    "register_engine",
    "register_tracker",
    "register_worker",
    "registries",
    "reset_registries",
    "resolve_engine",
    "resolve_tracker",
    "resolve_worker",
    "restore",
    "snapshot",
    "tracker_registry",
    "worker_registry",
]

IN_PROCESS = "(in-process)"


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


@dataclass(frozen=True)
class Claim:
    """Who offers a name: a built-in, a hook plugin or an entry point, and its distribution."""

    name: str
    target: Any  # a class or a "module:Class" string (the entry point's value for an entry point)
    source: str  # "builtin", "hook <plugin name>" or "entry point"
    distribution: str | None
    version: str | None
    entry_point: EntryPoint | None = None

    @property
    def owner(self) -> str:
        """What two claims must share not to conflict: the distribution, else the source."""
        return self.distribution or self.source

    @property
    def target_text(self) -> str:
        return _target_text(self.target)

    def load(self) -> Any:
        """The claimed object, imported now."""
        return self.entry_point.load() if self.entry_point is not None else _load_target(self.target)


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


@dataclass(frozen=True)
class RegistrySnapshot:
    """The in-process registrations of every registry, for `restore()` (tests)."""

    manual: dict[str, dict[str, Any]] = field(default_factory=dict)


class NamedRegistry:
    """Resolves the names of one plugin kind to classes, lazily, through hooks and entry points.

    Args:
        kind: the word used in messages ("worker").
        group: the entry-point group ("compileiq.workers").
        hooks: registration hooks called with `registry=Registrar` ("compileiq_register_workers").
        mapping_hooks: hooks that return `{name: target}` instead (kept for older plugins).
        base: "module:Class" every resolved class must subclass.
        plugin_api: "module:CONSTANT" the class's `plugin_api` must equal (None: not checked).
        name_attribute: class attribute that must equal an entry point's name (None: not checked).
        builtin: names the core provides itself, name -> "module:Class".
        first_party: names whose distribution is known, for the "not installed" message.
        aliases: other spellings of names.
        not_installed: message template ({name}, {dist}) of `not_installed_error`.
        unknown: message template ({name}, {installed}, {hint}) of `unknown_error`.
    """

    def __init__(
        self,
        *,
        kind: str,
        group: str,
        hooks: tuple[str, ...],
        base: str,
        unknown_error: type[UnknownNameError],
        not_installed_error: type[NotInstalledError],
        conflict_error: type[NameConflictError],
        not_installed: str,
        unknown: str,
        plugin_api: str | None = None,
        name_attribute: str | None = "name",
        mapping_hooks: tuple[str, ...] = (),
        builtin: dict[str, str] | None = None,
        first_party: dict[str, str] | None = None,
        aliases: dict[str, str] | None = None,
    ) -> None:
        self.kind = kind
        self.group = group
        self.hooks = hooks
        self.mapping_hooks = mapping_hooks
        self.base = base
        self.plugin_api_target = plugin_api
        self.name_attribute = name_attribute
        self.builtin = dict(builtin or {})
        self.first_party = dict(first_party or {})
        self.aliases = dict(aliases or {})
        self.not_installed = not_installed
        self.unknown = unknown
        self._unknown_error = unknown_error
        self._not_installed_error = not_installed_error
        self._conflict_error = conflict_error
        self._lock = threading.RLock()
        self._manual: dict[str, Any] = {}
        self.reset()

    @property
    def hook(self) -> str:
        """The main registration hook's name."""
        return self.hooks[0]

    def reset(self) -> None:
        """Forget scans, hook registrations and loaded classes (in-process registrations stay)."""
        with self._lock:
            self._hooked: dict[str, list[Claim]] | None = None
            self._generation = plugins.generation()
            self._scan: dict[str, list[EntryPoint]] | None = None
            self._loaded: dict[str, Any] = {}

    def _fresh(self) -> None:
        if self._generation != plugins.generation():
            self.reset()

    # -- in-process registrations and snapshots -----------------------------------------------

    def register(self, name: str, target: Any) -> None:
        """Register a class or "module:Class" under `name` in this process (wins over every claim)."""
        _check_name(self.kind, name)
        with self._lock:
            self._manual[name] = target
            self._loaded.pop(name, None)

    def unregister(self, name: str) -> None:
        """Remove an in-process registration."""
        with self._lock:
            self._manual.pop(name, None)
            self._loaded.pop(name, None)

    def registrations(self) -> dict[str, Any]:
        """A copy of the in-process registrations, name -> target."""
        with self._lock:
            return dict(self._manual)

    def replace_registrations(self, registrations: dict[str, Any]) -> None:
        """Set the in-process registrations to exactly `registrations` (see `restore`)."""
        with self._lock:
            self._manual = dict(registrations)
            self._loaded = {}

    # -- claims -------------------------------------------------------------------------------

    def _hook_claims(self) -> dict[str, list[Claim]]:
        plugins.get_plugin_manager()  # loads the hook plugins first: their generation counts
        with self._lock:
            self._fresh()
            if self._hooked is None:
                claims: dict[str, list[Claim]] = {}
                for name, target in self.builtin.items():
                    claims.setdefault(name, []).append(Claim(name, target, "builtin", "compileiq-core", None))
                registered: dict[str, dict[str, Any]] = {}

                def arguments(plugin_name: str) -> dict[str, Any]:
                    registered[plugin_name] = {}
                    return {"registry": Registrar(self.kind, registered[plugin_name])}

                for hook, as_mapping in [*((h, False) for h in self.hooks), *((h, True) for h in self.mapping_hooks)]:
                    registered.clear()

                    for plugin_name, result in plugins.call_each(hook, arguments):
                        found = dict(result or {}) if as_mapping else registered[plugin_name]
                        dist, version = plugins.distribution_of(plugin_name)
                        for name, target in found.items():
                            claim = Claim(name, target, f"hook {plugin_name}", dist, version)
                            same = [c for c in claims.get(name, []) if c.source == claim.source]
                            if not same:
                                claims.setdefault(name, []).append(claim)
                self._hooked = claims
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

    def claims(self, name: str) -> list[Claim]:
        """Every claim on `name` (built-in, hooks, entry points), one per owner, hooks first."""
        found = list(self._hook_claims().get(name, []))
        for ep in self._entry_points().get(name, []):
            dist = ep.dist
            found.append(Claim(name, ep.value, "entry point", dist.name if dist else None,
                               dist.version if dist else None, ep))
        by_owner: dict[str, Claim] = {}
        for claim in found:
            by_owner.setdefault(claim.owner.lower().replace("_", "-"), claim)
        return list(by_owner.values())

    def names(self) -> list[str]:
        """Every name installed or registered (aliases not included)."""
        return sorted({*self._manual, *self._hook_claims(), *self._entry_points()})

    # -- resolution ---------------------------------------------------------------------------

    def canonical(self, name: str) -> str:
        key = name.strip().lower()
        return self.aliases.get(key, key)

    def resolve(self, name: str) -> Any:
        """The class registered under `name` (an alias is followed)."""
        if not isinstance(name, str):
            raise TypeError(f"{self.kind} name {name!r} must be a string.")
        key = self.canonical(name)
        self._fresh()
        loaded = self._loaded.get(key)
        if loaded is not None:
            return loaded
        with self._lock:
            if key in self._manual:
                cls = self._check(key, _load_target(self._manual[key]), None)
            else:
                cls = self._from_claims(name, key)
            self._loaded[key] = cls
            return cls

    def _from_claims(self, name: str, key: str) -> Any:
        claims = self.claims(key)
        if len(claims) > 1:
            owners = ", ".join(f"{c.distribution or c.source} ({c.target_text})" for c in claims)
            raise self._conflict_error(
                f"{self.kind} name {key!r} is claimed by several installed distributions: {owners}. "
                "Uninstall all but one of them (or block a hook plugin with COMPILEIQ_DISABLED_PLUGINS)."
            )
        if not claims:
            raise self._missing(name, key)
        claim = claims[0]
        try:
            obj = claim.load()
        except Exception as exc:
            error = PluginLoadError(
                f"{self.kind} {key!r} from {claim.distribution or '?'} {claim.version or ''} "
                f"failed to import ({claim.target_text}): {type(exc).__name__}: {exc}. Upgrade or reinstall "
                "that package; the other plugins keep working."
            )
            try:
                plugins.record_failure(
                    plugins.PluginFailure(self.kind, key, claim.distribution, claim.version,
                                          f"{type(exc).__name__}: {exc}")
                )
            except PluginLoadError:
                pass
            raise error from exc
        return self._check(key, obj, claim if claim.entry_point is not None else None)

    def _check(self, key: str, obj: Any, claim: Claim | None) -> Any:
        base = self.base_class()
        source = f"entry point {claim.target_text!r} of {claim.distribution or '?'}" if claim else "registration"
        if not isinstance(obj, type) or not issubclass(obj, base):
            raise PluginLoadError(
                f"{self.kind} {key!r} ({source}) is {obj!r}, not a subclass of {base.__name__}."
            )
        if claim is not None and self.name_attribute is not None:
            declared = getattr(obj, self.name_attribute, "")
            if declared != key:
                raise PluginLoadError(
                    f"{self.kind} {key!r} ({source}) declares {self.name_attribute}={declared!r}; the class "
                    f"attribute `{self.name_attribute}` must equal the entry-point name {key!r}."
                )
        supported = self.plugin_api()
        if supported is not None:
            api = getattr(obj, "plugin_api", None)
            if api != supported:
                raise PluginLoadError(
                    f"{self.kind} {key!r} ({source}) targets plugin API {api!r}; this compileiq-core "
                    f"provides {supported}. Upgrade the plugin or compileiq-core so they match."
                )
        return obj

    def base_class(self) -> type:
        """The class every resolved target must subclass."""
        base: type = _load_target(self.base)
        return base

    def plugin_api(self) -> int | None:
        """The plugin API version this core provides for the kind (None: not versioned)."""
        return None if self.plugin_api_target is None else int(_load_target(self.plugin_api_target))

    def _missing(self, name: str, key: str) -> Exception:
        if key in self.first_party:
            dist = self.first_party[key]
            disabled = self._disabled_in(dist)
            if disabled:
                return self._unknown_error(
                    f"{self.kind} {name!r} comes from {dist}, which is installed, but its hook plugin is "
                    f"{disabled}. Enable it (COMPILEIQ_DISABLED_PLUGINS / COMPILEIQ_ENABLED_PLUGINS) to use {name!r}."
                )
            return self._not_installed_error(self.not_installed.format(name=name, dist=dist), name=dist)
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
        return self._unknown_error(self.unknown.format(name=name, installed=", ".join(installed) or "none",
                                                       hint=hint))

    @staticmethod
    def _disabled_in(distribution: str) -> str | None:
        """Why the hook plugin of `distribution` is switched off, if it has one that is."""
        key = distribution.lower().replace("_", "-")
        for plugin in plugins.hook_plugins():
            if (plugin.distribution or "").lower().replace("_", "-") == key and plugin.status.startswith("disabled"):
                return plugin.status
        return None

    # -- listing ------------------------------------------------------------------------------

    def describe(self) -> list[PluginInfo]:
        """Every name with its distribution, version and load status (imports plugin modules)."""
        infos: list[PluginInfo] = []
        for name in self.names():
            claims = self.claims(name)
            if name in self._manual:
                target, dist, version = _target_text(self._manual[name]), IN_PROCESS, None
            elif claims:
                claim = claims[0]
                target, dist, version = claim.target_text, claim.distribution or IN_PROCESS, claim.version
            else:  # pragma: no cover - names() only lists known sources
                continue
            try:
                self.resolve(name)
                status = "ok"
            except NameConflictError:
                status = "conflict: " + ", ".join(c.distribution or c.source for c in claims)
            except Exception as exc:  # noqa: BLE001 - listing reports every failure
                cause = exc.__cause__ or exc
                status = f"failed: {type(cause).__name__}: {cause}"
            infos.append(PluginInfo(name, target, dist, version, status))
        return infos


worker_registry = NamedRegistry(
    kind="worker",
    group="compileiq.workers",
    hooks=("compileiq_register_workers",),
    base="compileiq.worker:BaseWorker",
    plugin_api="compileiq.worker:PLUGIN_API",
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
    not_installed=(
        "worker_type={name!r} is provided by the {dist!r} package, which is not installed. "
        'Install it with:  pip install {dist}    (or: pip install "open-compileiq[all]")'
    ),
    unknown="Unknown worker_type {name!r}. Installed workers: {installed}.{hint}",
)

engine_registry = NamedRegistry(
    kind="engine",
    group="compileiq.engines",
    hooks=("compileiq_register_engines",),
    base="compileiq.engines.base:Engine",
    plugin_api="compileiq.engines.base:PLUGIN_API",
    first_party={"random": "compileiq-core", "genetic": "compileiq-core"},
    aliases={"amber": "genetic"},
    unknown_error=UnknownEngineError,
    not_installed_error=EngineNotInstalledError,
    conflict_error=NameConflictError,
    not_installed=(
        "engine {name!r} is provided by the {dist!r} package, which is not installed. "
        "Install it with:  pip install {dist}"
    ),
    unknown="Unknown engine {name!r}. Installed engines: {installed}.{hint}",
)

tracker_registry = NamedRegistry(
    kind="tracker",
    group="compileiq.trackers",
    hooks=("compileiq_register_trackers",),
    mapping_hooks=("compileiq_tracker_types",),
    base="compileiq.tracker:BaseTracker",
    name_attribute=None,
    builtin={"disabled": "compileiq.tracker:DisabledTracker", "loguru": "compileiq.tracker:LoguruTracker"},
    first_party={"mlflow": "compileiq-mlflow"},
    unknown_error=UnknownTrackerError,
    not_installed_error=TrackerNotInstalledError,
    conflict_error=NameConflictError,
    not_installed=(
        "tracker type {name!r} needs the {dist} plugin, which is not installed; pip install {dist}, "
        "or use another tracker_config."
    ),
    unknown="tracker type {name!r} is unknown; installed tracker types: {installed}.{hint}",
)


def registries() -> dict[str, NamedRegistry]:
    """The registries by kind: "worker", "engine", "tracker"."""
    return {r.kind: r for r in (worker_registry, engine_registry, tracker_registry)}


def resolve_worker(name: str) -> type[BaseWorker]:
    """The worker class for a `worker_type` name ("multiprocess", "ray", an alias, ...)."""
    cls: type[BaseWorker] = worker_registry.resolve(name)
    return cls


def resolve_engine(name: str) -> type[Engine]:
    """The engine class for an engine name ("random", "genetic", ...)."""
    cls: type[Engine] = engine_registry.resolve(name)
    return cls


def resolve_tracker(name: str) -> type[BaseTracker]:
    """The tracker class for a tracker type ("loguru", "mlflow", ...)."""
    cls: type[BaseTracker] = tracker_registry.resolve(name)
    return cls


def register_worker(name: str, target: Any) -> None:
    """Make a worker class (or "module:Class") available as `worker_type=name` in this process."""
    worker_registry.register(name, target)


def register_engine(name: str, target: Any) -> None:
    """Make an engine class (or "module:Class") available as `engine=name` in this process."""
    engine_registry.register(name, target)


def register_tracker(name: str, target: Any) -> None:
    """Make a tracker class (or "module:Class") available as tracker type `name` in this process."""
    tracker_registry.register(name, target)


def list_workers() -> list[PluginInfo]:
    """Every installed worker with its distribution, version and status."""
    return worker_registry.describe()


def list_engines() -> list[PluginInfo]:
    """Every installed engine with its distribution, version and status."""
    return engine_registry.describe()


def list_trackers() -> list[PluginInfo]:
    """Every installed tracker type with its distribution, version and status."""
    return tracker_registry.describe()


def reset_registries() -> None:
    """Forget cached scans and loaded classes of every registry (registrations stay)."""
    for registry in registries().values():
        registry.reset()


def snapshot() -> RegistrySnapshot:
    """The in-process registrations of every registry, to `restore()` later (tests)."""
    return RegistrySnapshot({kind: r.registrations() for kind, r in registries().items()})


def restore(saved: RegistrySnapshot | None = None) -> None:
    """Put back the registrations of `saved` (None: none at all) and forget every cache."""
    manual = saved.manual if saved is not None else {}
    for kind, registry in registries().items():
        registry.replace_registrations(manual.get(kind, {}))
        registry.reset()

