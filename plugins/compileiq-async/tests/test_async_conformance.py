from compileiq.testing import WorkerConformanceSuite


class TestAsyncConformance(WorkerConformanceSuite):
    __test__ = True
    worker_type = "async"
