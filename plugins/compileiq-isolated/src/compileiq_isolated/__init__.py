"""compileiq-isolated: a fresh process per candidate, its whole process group killed on timeout.

Importing this module starts nothing and sets no start method.
"""

from __future__ import annotations

from compileiq_isolated._worker import IsoMultiProcessWorker

__all__ = ["IsoMultiProcessWorker"]
__version__ = "1.0.0"
