"""Every compileiq distribution installed, what it provides and whether it works (`compileiq plugins`).

A distribution counts when its name starts with `compileiq` or it declares an entry point in
one of the compileiq groups (`compileiq`, `compileiq.workers`, `compileiq.engines`,
`compileiq.trackers`). Listing imports every worker, engine and tracker plugin (to say whether
it loads) and every enabled hook plugin, as `compileiq workers` does.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass
from typing import Any

from compileiq import plugins, registry

__all__ = ["GROUPS", "IN_PROCESS", "DistributionInfo", "list_plugins"]

GROUPS = ("compileiq", "compileiq.workers", "compileiq.engines", "compileiq.trackers")
"""The entry-point groups compileiq reads."""

IN_PROCESS = registry.IN_PROCESS


@dataclass(frozen=True)
class DistributionInfo:
    """One compileiq distribution (or the in-process registrations) as `compileiq plugins` lists it."""

    distribution: str
    version: str | None
    status: str  # "ok", "failed: <reason>" or "disabled: <why>"
    hooks: tuple[str, ...] = ()
    hook_plugins: tuple[str, ...] = ()
    workers: tuple[str, ...] = ()
    engines: tuple[str, ...] = ()
    trackers: tuple[str, ...] = ()

    @property
    def failed(self) -> bool:
        return self.status.startswith("failed")

    def as_dict(self) -> dict[str, Any]:
        return {
            "distribution": self.distribution,
            "version": self.version,
            "status": self.status,
            "hooks": list(self.hooks),
            "hook_plugins": list(self.hook_plugins),
            "workers": list(self.workers),
            "engines": list(self.engines),
            "trackers": list(self.trackers),
        }


def _key(name: str) -> str:
    return name.strip().lower().replace("_", "-")


def _installed() -> dict[str, tuple[str, str | None]]:
    """Normalized name -> (name, version) of every compileiq distribution."""
    from importlib.metadata import distributions

    found: dict[str, tuple[str, str | None]] = {}
    for dist in distributions():
        name = dist.metadata["Name"] or ""
        if not name:
            continue
        ours = _key(name).startswith("compileiq") or any(ep.group in GROUPS for ep in dist.entry_points)
        if ours:
            found.setdefault(_key(name), (name, dist.version))
    return found


class _Row:
    def __init__(self, name: str, version: str | None) -> None:
        self.name, self.version = name, version
        self.hooks: set[str] = set()
        self.hook_plugins: list[str] = []
        self.provides: dict[str, list[str]] = {"worker": [], "engine": [], "tracker": []}
        self.failures: list[str] = []
        self.disabled: list[str] = []

    def info(self) -> DistributionInfo:
        if self.failures:
            status = "failed: " + "; ".join(self.failures)
        elif self.disabled and not any(self.provides.values()):
            status = "; ".join(self.disabled)
        else:
            status = "ok"
        return DistributionInfo(
            self.name, self.version, status, tuple(sorted(self.hooks)), tuple(self.hook_plugins),
            *(tuple(sorted(self.provides[k])) for k in ("worker", "engine", "tracker")),
        )


def list_plugins() -> list[DistributionInfo]:
    """Every compileiq distribution with its version, hooks, provided names and status.

    A distribution is `failed` when its hook plugin or one of its workers, engines or trackers
    does not load (the reason follows), `disabled` when its hook plugin is switched off by
    `COMPILEIQ_DISABLED_PLUGINS`, `COMPILEIQ_ENABLED_PLUGINS` or `COMPILEIQ_DISABLE_PLUGIN_AUTOLOAD`
    and it provides nothing else. In-process registrations are listed as one `(in-process)` row.
    """
    rows: dict[str, _Row] = {key: _Row(name, version) for key, (name, version) in _installed().items()}

    def row(distribution: str | None, version: str | None = None) -> _Row:
        name = distribution or IN_PROCESS
        return rows.setdefault(_key(name), _Row(name, version))

    with plugins.lenient(), warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # failures are listed, not warned about
        for plugin in plugins.hook_plugins():
            target = row(plugin.distribution, plugin.version)
            target.hook_plugins.append(plugin.name)
            target.hooks.update(plugin.hooks)
            if plugin.status.startswith("failed"):
                target.failures.append(f"hook plugin {plugin.name!r}: {plugin.status[len('failed: '):]}")
            elif plugin.status.startswith("disabled"):
                target.disabled.append(plugin.status)
        for kind, reg in registry.registries().items():
            for info in reg.describe():
                target = row(None if info.distribution == IN_PROCESS else info.distribution, info.version)
                target.provides[kind].append(info.name)
                if info.status != "ok":
                    target.failures.append(f"{kind} {info.name!r}: {info.status.removeprefix('failed: ')}")
    return sorted((r.info() for r in rows.values()), key=lambda i: (i.distribution == IN_PROCESS, _key(i.distribution)))
