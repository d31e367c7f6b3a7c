"""compileiq-ray against the worker conformance kit, on this module's loopback cluster."""

from __future__ import annotations

import pytest

from compileiq.testing import WorkerConformanceSuite


class TestRayConformance(WorkerConformanceSuite):
    __test__ = True
    worker_type = "ray"
    timeout_slack = 15.0  # a killed Ray worker process is replaced before the next task runs
    check_leftover_processes = False  # Ray's own worker processes outlive a run; the module's cluster
    # fixture checks by PID that every Ray process is gone after the module

    @pytest.fixture(autouse=True)
    def _on_cluster(self, cluster: object) -> None:
        """Every check runs on the shared three-node loopback cluster."""
