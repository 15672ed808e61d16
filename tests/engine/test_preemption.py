"""Cluster failure modes, for real (train_net.py, 2 gloo processes at 127.0.0.1):

- in one process: SIGUSR1 stops the run with its checkpoint and the stop record; a signal that
  arrives before training (handlers installed at process start) ends in the same clean stop;
- SIGTERM to the whole launch() job (loader workers included) stops every rank at one
  iteration with a checkpoint of it and the requeue status (the real SLURM: tests/slurm/);
- kill -9 of one rank makes the other exit non-zero within the collective timeout, saying so.
"""
import json
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
from decon_d2.engine.preemption import (
    REQUEUE_EXIT_CODE, STOP_RECORD_ENV, STOP_SIGNALS, Preempted, clear_stop_signal,
    install_stop_handlers, received_stop_signal,
)
from tests.helpers import instant_test_cfg
from tests.helpers.cluster import (
    ITERS, REPO_ROOT, free_port, signal_when, slurm_env, train_args,
)


class _SignalAt(HookBase):
    def __init__(self, iteration):
        self.iteration = iteration

    def after_step(self):  # after PreemptionHook's check: seen at the next iteration
        if self.trainer.iter == self.iteration:
            os.kill(os.getpid(), signal.SIGUSR1)


@pytest.mark.slow
def test_sigusr1_writes_a_checkpoint_of_the_stopped_iteration(tmp_path, monkeypatch):
    """In-process, one rank: the stop checkpoint is the hook's own (no periodic one exists),
    then the stop record the sbatch script reads."""
    record = tmp_path / "stop.json"
    monkeypatch.setenv(STOP_RECORD_ENV, str(record))
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
    doc = json.loads(record.read_text())
    assert doc["iteration"] == 2 and doc["signal"] == "SIGUSR1"
    assert doc["checkpoint"] == str(tmp_path / "model_0000002.pth")
    assert received_stop_signal() is None  # consumed: a next run in this process trains


@pytest.mark.slow
def test_a_signal_before_training_ends_in_the_same_clean_stop(tmp_path, caplog):
    """Handlers installed at process start (train_net.py) remember a signal that arrives while
    the model is built; the run stops after its first iteration, with a checkpoint."""
    previous = {s: signal.getsignal(s) for s in STOP_SIGNALS}
    try:
        install_stop_handlers()
        os.kill(os.getpid(), signal.SIGTERM)  # during start-up: remembered, not fatal
        trainer = PretrainTrainer(instant_test_cfg("decon_ml", "SOLVER.MAX_ITER", 5,
                                                   output_dir=tmp_path))
        trainer.resume_or_load(resume=False)
        with pytest.raises(Preempted) as stop, caplog.at_level("WARNING", logger="decon_d2"):
            trainer.train()
    finally:
        clear_stop_signal()
        for s, handler in previous.items():
            signal.signal(s, handler)
    assert stop.value.iteration == 0
    assert (tmp_path / "last_checkpoint").read_text() == "model_0000000.pth"
    assert "Received SIGTERM before training" in caplog.text


@pytest.mark.slow
def test_sigterm_to_launch_stops_every_rank_at_one_checkpoint(tmp_path):
    """Detectron2's launch(): the parent passes SIGTERM on, both ranks stop after one iteration
    with its checkpoint and the launcher exits 75 (resuming such a checkpoint exactly:
    tests/slurm/, test_launch.py)."""
    opts = ["SOLVER.CHECKPOINT_PERIOD", 2]
    argv = [sys.executable, *train_args(tmp_path, "--num-gpus", "2", "--dist-url",
                                        f"tcp://127.0.0.1:{free_port()}", opts=opts)]
    # SIGTERM to the launcher, both ranks and their loader workers
    rc, out = signal_when(argv, tmp_path, tmp_path / "model_0000001.pth",
                          lambda proc: os.killpg(proc.pid, signal.SIGTERM))
    assert rc == REQUEUE_EXIT_CODE, out[-4000:]
    stopped = int(re.search(r"Stopped at iteration (\d+)", out).group(1))
    last = (tmp_path / "last_checkpoint").read_text()
    assert last == f"model_{stopped:07d}.pth" and 1 <= stopped < ITERS - 1, (last, out[-3000:])
    ckpt = torch.load(tmp_path / last, map_location="cpu", weights_only=False)
    assert ckpt["iteration"] == stopped and "optimizer" in ckpt["trainer"]["_trainer"]
    assert not (tmp_path / "model_final.pth").exists() and "Traceback" not in out, out[-4000:]


@pytest.mark.slow
def test_killed_rank_makes_the_other_exit_within_the_timeout(tmp_path):
    timeout, port = 20, free_port()
    opts = ["SOLVER.MAX_ITER", 200, "SOLVER.DECON.DIST_TIMEOUT_S", timeout]
    consoles = [tmp_path / f"console{r}.txt" for r in range(2)]
    procs = []
    for r in range(2):
        with open(consoles[r], "w") as f:
            procs.append(subprocess.Popen([sys.executable, *train_args(tmp_path, opts=opts)],
                                          env=slurm_env(r, 2, port), cwd=REPO_ROOT, stdout=f,
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
