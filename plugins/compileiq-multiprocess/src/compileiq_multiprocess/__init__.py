"""compileiq-multiprocess: the default worker, a persistent pool of local processes.

Importing this module starts nothing and sets no start method; the pool is created on the
first `run()` (start method from `CIQ_PROCESS_MODE`, forkserver by default) and closed by
`close()`. Its process plumbing is the core's public `compileiq.processes`.
"""

from __future__ import annotations

from compileiq_multiprocess._worker import MultiProcessWorker

__all__ = ["MultiProcessWorker"]
__version__ = "1.0.0"
