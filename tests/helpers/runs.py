"""Test drivers that run training: a gloo group for spawned test workers and a kill-and-resume
driver for resume tests."""
import contextlib
import os
import time

import torch
import torch.distributed as dist
import torch.multiprocessing as mp
from detectron2.engine import HookBase

__all__ = ["gloo_process_group", "loss_history", "kill_and_resume", "spawn"]


@contextlib.contextmanager
def gloo_process_group(rank, world_size, folder):
    """Join a CPU (gloo) process group that rendezvouses through a file in ``folder``, with one
    torch thread (the body of a worker started by ``torch.multiprocessing``)."""
    os.environ["OMP_NUM_THREADS"] = "1"
    torch.set_num_threads(1)
    dist.init_process_group("gloo", init_method=f"file://{folder}/rendezvous", rank=rank,
                            world_size=world_size)
    try:
        yield
    finally:
        dist.destroy_process_group()


def loss_history(trainer):
    """The ``total_loss`` of every iteration a trainer ran."""
    return [v for v, _ in trainer.storage.history("total_loss").values()]


class _Killed(Exception):
    pass


class _KillAfter(HookBase):
    def __init__(self, iteration):
        self.iteration = iteration

    def after_step(self):  # registered last: after the checkpointer wrote this iteration
        if self.trainer.iter == self.iteration:
            raise _Killed()


def kill_and_resume(make_trainer, max_iter):
    """Run a config straight through; run it again, killed after iteration ``max_iter // 2 - 1``
    (whose checkpoint it wrote), and resume that run as ``--resume`` does.

    ``make_trainer(name)`` builds a fresh trainer whose OUTPUT_DIR depends on ``name``
    ("straight" or "resumed"). Returns ``(straight trainer, losses of the killed then resumed
    run, resumed trainer)``.
    """
    straight = make_trainer("straight")
    straight.resume_or_load(resume=False)
    straight.train()
    killed = make_trainer("resumed")
    killed.resume_or_load(resume=False)
    killed.register_hooks([_KillAfter(max_iter // 2 - 1)])
    try:
        killed.train()
    except _Killed:
        pass
    else:
        raise AssertionError("the run finished before it was killed")
    resumed = make_trainer("resumed")
    resumed.resume_or_load(resume=True)
    assert resumed.start_iter == max_iter // 2, resumed.start_iter
    resumed.train()
    return straight, loss_history(killed) + loss_history(resumed), resumed


#: imported once by the fork server, so that each worker starts in milliseconds instead of
#: importing torch and detectron2 again (~5 s per worker on 2 cores)
PRELOAD = ["tests.helpers"]


def _forkserver():
    return mp.get_context("forkserver")


def spawn(fn, args, nprocs, timeout=300):
    """``torch.multiprocessing`` workers ``fn(rank, *args)`` (forked from a server that imported
    ``PRELOAD`` once; the environment is that server's, not the test's: pass what a worker needs
    in ``args``), joined with a deadline: a worker that hangs (a collective that never
    completes) is killed with the others and the test fails with ``TimeoutError`` instead of
    stalling the suite; a worker's exception is re-raised as ``torch.multiprocessing`` does."""
    _forkserver().set_forkserver_preload(PRELOAD)
    context = mp.start_processes(fn, args=args, nprocs=nprocs, start_method="forkserver",
                                 join=False)
    deadline = time.monotonic() + timeout
    while not context.join(timeout=max(0.0, deadline - time.monotonic())):
        if time.monotonic() >= deadline:
            for p in context.processes:
                if p.is_alive():
                    p.kill()
            raise TimeoutError(f"{nprocs} spawned worker(s) of {fn.__name__} still running after "
                               f"{timeout} s")
