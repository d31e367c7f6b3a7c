"""Is NVIDIA's CompileIQ installed next to this one? Both install the import package `compileiq`.

NVIDIA publishes its CompileIQ on the package index as the distribution `compileiq`; ours is
`open-compileiq` (core: `compileiq-core`). Installing one over the other in the same
environment mixes their files in one `compileiq/` folder. `nvidia_conflict()` says so, with the
fix; `import compileiq` runs its cheap form (a few `stat` calls, no scan of the installed
distributions) and warns, `compileiq workers` runs the thorough form.
"""

from __future__ import annotations

import os
import warnings

__all__ = ["NVIDIA_DISTRIBUTION", "ROOT_DISTRIBUTION", "InstallationConflictWarning", "nvidia_conflict",
           "warn_if_conflict"]

ROOT_DISTRIBUTION = "open-compileiq"
"""Our root distribution: core plus the local workers."""
NVIDIA_DISTRIBUTION = "compileiq"
"""NVIDIA's distribution on the package index (versions 1.0.0 to 1.1.0 at the time of writing)."""

_PACKAGE_DIR = os.path.dirname(os.path.abspath(__file__))
_NVIDIA_ONLY = ("backends.py", os.path.join("search_spaces", "resolver.py"), os.path.join("utils", "_libciq.py"))
"""Files NVIDIA's wheel puts in `compileiq/` and ours never does: finding one means files are mixed."""
_NVIDIA_RUNTIME = "compileiq_native_runtime"
"""A top-level package NVIDIA's wheel installs next to `compileiq/`."""


class InstallationConflictWarning(UserWarning):
    """NVIDIA's `compileiq` distribution is installed in the same environment as compileiq-core."""


def _fix(where: str) -> str:
    return (
        f"NVIDIA's CompileIQ (the {NVIDIA_DISTRIBUTION!r} distribution) is installed in the same "
        f"environment as compileiq-core ({where}). Both provide the import package `compileiq`, so "
        "their files overwrite each other and `import compileiq` may run a mix of the two. Keep one "
        "per environment. To keep this one: `python -m pip uninstall -y compileiq && python -m pip "
        "install --force-reinstall --no-deps compileiq-core` (add `--find-links dist` when you installed "
        "it from built wheels): the uninstall also deletes the files the two share, the reinstall "
        "puts ours back. To keep NVIDIA's: `python -m pip uninstall "
        f"-y {ROOT_DISTRIBUTION} compileiq-core` and the compileiq-* plugins, then reinstall "
        "`compileiq`. Best: give each its own virtual environment."
    )


def _mixed_files(package_dir: str) -> list[str]:
    found = [name for name in _NVIDIA_ONLY if os.path.exists(os.path.join(package_dir, name))]
    if os.path.isdir(os.path.join(os.path.dirname(package_dir), _NVIDIA_RUNTIME)):
        found.append(os.path.join("..", _NVIDIA_RUNTIME))
    return found


def _nvidia_distribution() -> str | None:
    """`compileiq <version> at <path>` when a distribution named `compileiq` that is not ours is on sys.path."""
    from importlib.metadata import PackageNotFoundError, distribution

    try:
        dist = distribution(NVIDIA_DISTRIBUTION)
    except PackageNotFoundError:
        return None
    requires = dist.requires or []
    if any(r.replace("_", "-").lower().startswith("compileiq-core") for r in requires):
        return None  # our own root distribution under its old name (1.0.0 from a checkout)
    return f"{NVIDIA_DISTRIBUTION} {dist.version} at {os.path.normpath(str(dist.locate_file('')))}"


def nvidia_conflict(thorough: bool = True, package_dir: str | None = None) -> str | None:
    """The warning to show when NVIDIA's CompileIQ is installed alongside, or None.

    Args:
        thorough: also look up the `compileiq` distribution's metadata on sys.path (a few
            milliseconds: for commands, not for `import compileiq`). The cheap form only checks
            whether files of NVIDIA's wheel sit in our package folder.
        package_dir: the `compileiq` package folder to check (default: this one).
    """
    package_dir = package_dir or _PACKAGE_DIR
    mixed = _mixed_files(package_dir)
    found = _nvidia_distribution() if thorough else None
    if not mixed and not found:
        return None
    where = []
    if found:
        where.append(f"found {found}")
    if mixed:
        where.append(f"its files {', '.join(mixed)} are in {package_dir}")
    return _fix("; ".join(where))


def warn_if_conflict() -> None:
    """Warn once at import (cheap form) when NVIDIA's CompileIQ files are mixed with ours."""
    message = nvidia_conflict(thorough=False)
    if message:
        warnings.warn(message, InstallationConflictWarning, stacklevel=2)
