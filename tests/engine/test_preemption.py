"""Cluster failure modes, for real (train_net.py, 2 gloo processes at 127.0.0.1):

- SIGTERM to the whole job (as SLURM sends it, loader workers included) stops every rank at one
  iteration with a checkpoint of it and the requeue status; resuming it under SLURM's variables
  ends with the weights of the uninterrupted run, bitwise;
- kill -9 of one rank makes the other exit non-zero within the collective timeout, saying so.
"""
import os
import re
import signal
import subprocess
import sys
import time

import pytest
import torch

from detectron2.engine import HookBase
from detectron2.utils.env import seed_all_rng

from decon_d2.engine import PretrainTrainer
from decon_d2.engine.preemption import REQUEUE_EXIT_CODE, Preempted
from tests.helpers import instant_test_cfg

from .conftest import (
    ITERS, assert_ok, assert_same_model, clean_env, free_port, run_ranks, slurm_env, train_args,
)

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def _wait_for(path, proc, timeout):
    deadline = time.monotonic() + timeout
    while not path.exists():
        assert proc.poll() is None, f"exited with {proc.returncode} before {path.name} appeared"
        assert time.monotonic() < deadline, f"no {path.name} after {timeout} s"
        time.sleep(0.05)


class _SignalAt(HookBase):
    def __init__(self, iteration):
        self.iteration = iteration

    def after_step(self):  # after PreemptionHook's check: seen at the next iteration
        if self.trainer.iter == self.iteration:
            os.kill(os.getpid(), signal.SIGUSR1)


@pytest.mark.slow
def test_sigusr1_writes_a_checkpoint_of_the_stopped_iteration(tmp_path):
    """In-process, one rank: the stop checkpoint is the hook's own (no periodic one exists)."""
    seed_all_rng(0)
    trainer = PretrainTrainer(instant_test_cfg("decon_ml", "SOLVER.MAX_ITER", 5,
                                               output_dir=tmp_path))
    trainer.resume_or_load(resume=False)
    trainer.register_hooks([_SignalAt(1)])
    with pytest.raises(Preempted) as stop:
        trainer.train()
    assert stop.value.code == REQUEUE_EXIT_CODE and stop.value.iteration == 2
    assert (tmp_path / "last_checkpoint").read_text() == "model_0000002.pth"
    assert sorted(p.name for p in tmp_path.glob("*.pth")) == ["model_0000002.pth"]
    assert signal.getsignal(signal.SIGUSR1) is signal.SIG_DFL  # handlers restored


@pytest.mark.slow
def test_sigterm_checkpoints_requeues_and_resumes_exactly(reference_run, tmp_path):
    opts = ["SOLVER.CHECKPOINT_PERIOD", 2]
    argv = [sys.executable, *train_args(tmp_path, "--num-gpus", "2", "--dist-url",
                                        f"tcp://127.0.0.1:{free_port()}", opts=opts)]
    console = tmp_path / "console.txt"  # a file, not a pipe: nobody reads it while it runs
    with open(console, "w") as f:
        proc = subprocess.Popen(argv, env=clean_env(), cwd=REPO, stdout=f,
                                stderr=subprocess.STDOUT, start_new_session=True)
    try:
        _wait_for(tmp_path / "model_0000001.pth", proc, timeout=240)
        os.killpg(proc.pid, signal.SIGTERM)  # launcher, both ranks and their loader workers
        proc.wait(timeout=120)
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(timeout=30)
    out = console.read_text()
    assert proc.returncode == REQUEUE_EXIT_CODE, out[-4000:]
    stopped = int(re.search(r"Stopped at iteration (\d+)", out).group(1))
    last = (tmp_path / "last_checkpoint").read_text()
    assert last == f"model_{stopped:07d}.pth" and 1 <= stopped < ITERS - 1, (last, out[-3000:])
    ckpt = torch.load(tmp_path / last, map_location="cpu", weights_only=False)
    assert ckpt["iteration"] == stopped and "optimizer" in ckpt["trainer"]["_trainer"]
    assert not (tmp_path / "model_final.pth").exists() and "Traceback" not in out, out[-4000:]

    port = free_port()  # requeued: the job resumes, this time as 2 srun tasks
    assert_ok(run_ranks([([sys.executable, *train_args(tmp_path, "--resume", opts=opts)],
                          slurm_env(r, 2, port)) for r in range(2)]))
    assert f"Resuming at iteration {stopped + 1}" in (tmp_path / "log.txt").read_text()
    assert_same_model(tmp_path, reference_run)


@pytest.mark.slow
def test_killed_rank_makes_the_other_exit_within_the_timeout(tmp_path):
    timeout, port = 20, free_port()
    opts = ["SOLVER.MAX_ITER", 200, "SOLVER.DECON.DIST_TIMEOUT_S", timeout]
    consoles = [tmp_path / f"console{r}.txt" for r in range(2)]
    procs = []
    for r in range(2):
        with open(consoles[r], "w") as f:
            procs.append(subprocess.Popen([sys.executable, *train_args(tmp_path, opts=opts)],
                                          env=slurm_env(r, 2, port), cwd=REPO, stdout=f,
                                          stderr=subprocess.STDOUT))
    try:
        log = tmp_path / "log.txt"
        deadline = time.monotonic() + 240
        while not (log.exists() and "Starting training" in log.read_text()):
            assert procs[0].poll() is None and time.monotonic() < deadline, "never started"
            time.sleep(0.1)
        time.sleep(1.0)  # inside the first iterations
        procs[1].kill()
        start = time.monotonic()
        procs[0].wait(timeout=timeout + 60)
        elapsed = time.monotonic() - start
    finally:
        for p in procs:
            if p.poll() is None:
                p.kill()
            p.wait(timeout=30)
    out = consoles[0].read_text()
    assert procs[0].returncode not in (0, None), out[-3000:]
    assert "rank 0 of 2: a collective failed" in out, out[-3000:]
    assert f"collective timeout of {timeout} s" in out and "SOLVER.DECON.DIST_TIMEOUT_S" in out
    assert elapsed < timeout + 30, elapsed
