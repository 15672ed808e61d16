"""Shared fixtures. Tests run on CPU in seconds to minutes; no network beyond apt for demo data."""
import logging
import os
import weakref

os.environ.setdefault("OMP_NUM_THREADS", "2")  # before torch is imported (and for subprocesses)

import pytest  # noqa: E402
import torch  # noqa: E402
from torch.utils.data.dataloader import _MultiProcessingDataLoaderIter  # noqa: E402


@pytest.fixture
def tmp_datasets_root(tmp_path, monkeypatch):
    """Point DETECTRON2_DATASETS at an empty temporary folder."""
    monkeypatch.setenv("DETECTRON2_DATASETS", str(tmp_path))
    return tmp_path


@pytest.fixture
def one_torch_thread():
    """Per-sample work on small tensors, as in a data-loader worker (which runs one thread):
    extra intra-op threads only contend with other processes on a shared machine."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


@pytest.fixture(autouse=True)
def _decon_logs_reach_caplog():
    """In-process training tests run Detectron2's ``setup_logger(name="decon_d2")``, which stops
    that logger propagating to the root, where ``caplog`` listens: restore it for each test."""
    logger = logging.getLogger("decon_d2")
    propagate = logger.propagate
    logger.propagate = True
    yield
    logger.propagate = propagate


@pytest.fixture(scope="session")
def reference_run(tmp_path_factory):
    """The uninterrupted 2-process run (tests/helpers/cluster.py) that the launcher, preemption
    and SLURM tests must reproduce bitwise: its OUTPUT_DIR."""
    from tests.helpers.cluster import run_reference
    return run_reference(tmp_path_factory.mktemp("reference"))


@pytest.fixture(autouse=True)
def _loader_workers_end_with_their_test():
    """A trainer's data-loader iterator sits in a reference cycle: collected at some later point,
    its ``__del__`` joins the worker processes inside an unrelated test (a 30 s stall in
    tests/finetune/ came from tests/engine/test_train.py's killed run). The worker iterators a
    test starts are shut down when it ends (0.1 s each)."""
    started = weakref.WeakSet()
    original = _MultiProcessingDataLoaderIter.__init__

    def init(self, *args, **kwargs):
        original(self, *args, **kwargs)
        started.add(self)

    _MultiProcessingDataLoaderIter.__init__ = init
    try:
        yield
    finally:
        _MultiProcessingDataLoaderIter.__init__ = original
        for it in list(started):
            it._shutdown_workers()
