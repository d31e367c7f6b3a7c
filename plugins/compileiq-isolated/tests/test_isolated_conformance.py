from compileiq.testing import WorkerConformanceSuite


class TestIsolatedConformance(WorkerConformanceSuite):
    __test__ = True
    worker_type = "isolated"
