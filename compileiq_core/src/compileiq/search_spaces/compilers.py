"""Search space providers, at upstream's import path `compileiq.search_spaces.compilers`.

A provider is any object with a `retrieve()` method; `Search(search_space=provider)` calls it
once, at construction. A provider whose `retrieve()` returns a dict of
`compileiq.search_spaces.base` builders (or a path to a `compileiq-search-space-v1` JSON
file) works as a search space.

NVIDIA's prebuilt compiler spaces (`PtxasSearchSpace`, `NvccSearchSpace`, and `.bin` files
through `LocalSearchSpaceBin`) are protected binaries that only NVIDIA's closed runtime can
read: these classes exist so that upstream scripts import, and their `retrieve()` raises
`UnsupportedSearchSpaceError` saying what to use instead.
"""

from __future__ import annotations

import json
import pathlib
from typing import Any, Protocol, runtime_checkable

from compileiq.errors import SearchSpaceError

__all__ = [
    "CompilerSearchSpaceBase",
    "LocalSearchSpaceBin",
    "NvccSearchSpace",
    "PtxasSearchSpace",
    "SearchSpaceProvider",
    "UnsupportedSearchSpaceError",
]

_INSTEAD = (
    "Describe the flags you want to tune with compileiq.search_spaces.base builders instead, e.g. "
    "{'opt': ss.choice(['-O2', '-O3']), 'unroll': ss.choice(['', '-funroll-loops'])} (examples/gcc_flags/ "
    "tunes real compiler flags this way), or pass a provider whose retrieve() returns such a dict; "
    "see docs/migrating.md. To run NVIDIA's compiler spaces, use NVIDIA's CompileIQ "
    "(`pip install compileiq`) in a separate virtual environment."
)


class UnsupportedSearchSpaceError(SearchSpaceError):
    """A search space only NVIDIA's closed runtime can read (a prebuilt compiler space)."""


@runtime_checkable
class SearchSpaceProvider(Protocol):
    """Anything with `retrieve()` returning a search space: a dict of builders or a path to a JSON space."""

    def retrieve(self) -> dict[str, Any] | pathlib.Path: ...


class CompilerSearchSpaceBase:
    """Upstream's base of the prebuilt compiler spaces fetched from NVIDIA's releases.

    Args:
        version: the compiler version (upstream's default "13.3").
        variant: the space variant ("default").
        tag: the release tag ("latest").
    """

    compiler: str = "compiler"

    def __init__(self, version: str = "13.3", variant: str = "default", tag: str = "latest") -> None:
        self.version = version
        self.variant = variant
        self.tag = tag
        self.resolution_metadata: dict[str, Any] | None = None

    def retrieve(self) -> pathlib.Path:
        """Raise `UnsupportedSearchSpaceError`: NVIDIA's prebuilt compiler spaces are not supported."""
        raise UnsupportedSearchSpaceError(
            f"{type(self).__name__}(version={self.version!r}, variant={self.variant!r}, tag={self.tag!r}) "
            f"asks for NVIDIA's prebuilt {self.compiler} search space, which compileiq does not support: "
            f"it is a protected binary that only NVIDIA's closed runtime can read. {_INSTEAD}"
        )


class PtxasSearchSpace(CompilerSearchSpaceBase):
    """NVIDIA's prebuilt PTXAS space: not supported (`retrieve()` raises, saying what to use instead)."""

    compiler = "ptxas"


class NvccSearchSpace(CompilerSearchSpaceBase):
    """NVIDIA's prebuilt NVCC space: not supported (`retrieve()` raises, saying what to use instead)."""

    compiler = "nvcc"


class LocalSearchSpaceBin:
    """A search space file on disk.

    A `compileiq-search-space-v1` JSON file (as `SearchSpace.to_json()` writes) works; a
    protected `.bin` compiler space raises `UnsupportedSearchSpaceError` from `retrieve()`.

    Args:
        path: the file; a missing file raises FileNotFoundError here, as upstream does.
    """

    def __init__(self, path: str | pathlib.Path) -> None:
        resolved = pathlib.Path(path).expanduser().resolve()
        if not resolved.exists():
            raise FileNotFoundError(resolved)
        self._path = resolved

    def retrieve(self) -> pathlib.Path:
        """The path, when it holds a JSON search space; else `UnsupportedSearchSpaceError`."""
        from compileiq.search_spaces.space import FORMAT

        try:
            data = json.loads(self._path.read_text(encoding="utf-8"))
        except (UnicodeDecodeError, ValueError, IsADirectoryError):
            data = None
        if isinstance(data, dict) and data.get("format") == FORMAT:
            return self._path
        raise UnsupportedSearchSpaceError(
            f"LocalSearchSpaceBin({str(self._path)!r}) is not a {FORMAT} JSON file: a prebuilt (.bin) "
            f"compiler search space is a protected binary that only NVIDIA's closed runtime can read, "
            f"and compileiq does not support it. {_INSTEAD}"
        )
