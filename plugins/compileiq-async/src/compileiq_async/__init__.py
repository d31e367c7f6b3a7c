"""compileiq-async: a worker for `async def` objectives. Importing it starts nothing."""

from __future__ import annotations

from compileiq_async._watch import BlockedLoopWarning
from compileiq_async._worker import AsyncWorker

__all__ = ["AsyncWorker", "BlockedLoopWarning"]
__version__ = "1.0.0"
