from compileiq.testing import WorkerConformanceSuite


class TestSequentialConformance(WorkerConformanceSuite):
    __test__ = True
    worker_type = "sequential"
