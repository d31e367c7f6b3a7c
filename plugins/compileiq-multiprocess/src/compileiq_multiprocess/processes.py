"""Deprecated: the process toolkit moved to the core as `compileiq.processes`.

This alias keeps old imports working for one release (compileiq 1.x) and warns when imported.
"""

from __future__ import annotations

import warnings

from compileiq.processes import *  # noqa: F403 - the alias re-exports the whole toolkit
from compileiq.processes import __all__  # noqa: F401

warnings.warn(
    "compileiq_multiprocess.processes is deprecated and will be removed in the next release; "
    "import the same names from compileiq.processes instead.",
    DeprecationWarning,
    stacklevel=2,
)
