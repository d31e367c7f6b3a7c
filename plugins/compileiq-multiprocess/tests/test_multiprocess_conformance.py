from compileiq.testing import WorkerConformanceSuite


class TestMultiProcessConformance(WorkerConformanceSuite):
    __test__ = True
    worker_type = "multiprocess"
