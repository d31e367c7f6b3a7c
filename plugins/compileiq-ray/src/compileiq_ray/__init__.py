"""compileiq-ray: evaluates candidates as Ray tasks, on one machine or a whole cluster.

Importing this package does not import ray; the worker imports and connects it in `setup()`.
"""

from __future__ import annotations

from compileiq_ray._worker import RayWorker

__all__ = ["RayWorker"]
__version__ = "1.0.0"
