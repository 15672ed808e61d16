"""Every launch path gives the same training: 2 "machines" x 1 process on localhost and
torchrun's 2 processes, restarted once after a stop, equal Detectron2's 1 machine x 2 processes
bitwise (SLURM's: tests/slurm/ and test_preemption.py); the environment is read as torchrun and
srun set it."""
import os
import re
import signal
import sys
from pathlib import Path

import pytest

from decon_d2.engine.launch import collective_timeout, detect_cluster_env

from tests.helpers.cluster import (
    assert_ok, assert_same_model, clean_env, free_port, run_ranks, signal_when, train_args,
)


@pytest.mark.slow
def test_two_machines_equal_one_machine(reference_run, tmp_path):
    url = f"tcp://127.0.0.1:{free_port()}"
    ranks = [([sys.executable, *train_args(tmp_path, "--num-gpus", "1", "--num-machines", "2",
                                           "--machine-rank", str(r), "--dist-url", url)],
              clean_env()) for r in range(2)]
    assert_ok(run_ranks(ranks))
    assert_same_model(tmp_path, reference_run)


@pytest.mark.slow
def test_torchrun_restart_resumes_by_itself_and_equals_launch(reference_run, tmp_path):
    """torchrun --standalone --max-restarts 1: a stop signal to the ranks stops them at a
    checkpoint (exit 75), torchrun restarts them, they resume by themselves (no --resume) and
    end with the uninterrupted run's weights."""
    argv = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node",
            "2", "--max-restarts", "1", *train_args(tmp_path, opts=["SOLVER.CHECKPOINT_PERIOD", 1])]

    def usr1_to_the_ranks(agent):  # not to the agent: USR1 would kill it
        for rank in Path(f"/proc/{agent.pid}/task/{agent.pid}/children").read_text().split():
            os.kill(int(rank), signal.SIGUSR1)

    rc, out = signal_when(argv, tmp_path, tmp_path / "model_0000000.pth", usr1_to_the_ranks)
    assert rc == 0, out[-4000:]
    assert "torchrun: rank 0/2" in out and "TORCHELASTIC_RESTART_COUNT=1" in out, out[-4000:]
    stopped = int(re.search(r"Stopped at iteration (\d+)", out).group(1))
    assert f"Resuming at iteration {stopped + 1}" in out, out[-4000:]
    assert_same_model(tmp_path, reference_run)


def test_environment_of_each_launcher_is_read():
    torchrun = {"TORCHELASTIC_RUN_ID": "x", "RANK": "5", "WORLD_SIZE": "8", "LOCAL_RANK": "1",
                "LOCAL_WORLD_SIZE": "4", "MASTER_ADDR": "node0", "MASTER_PORT": "29500",
                "SLURM_PROCID": "0", "SLURM_NTASKS": "2"}  # torchrun inside an sbatch job
    env = detect_cluster_env(torchrun)
    assert (env.source, env.rank, env.world_size, env.local_rank, env.local_world_size) == \
        ("torchrun", 5, 8, 1, 4) and env.dist_url == "tcp://node0:29500"
    srun = {"SLURM_PROCID": "6", "SLURM_NTASKS": "8", "SLURM_LOCALID": "2", "SLURM_NNODES": "2",
            "MASTER_ADDR": "node0", "MASTER_PORT": "29500"}
    env = detect_cluster_env(srun)
    assert (env.source, env.rank, env.world_size, env.local_rank, env.local_world_size) == \
        ("slurm", 6, 8, 2, 4)
    # one sbatch task that runs train_net.py --num-gpus 8 itself: Detectron2's launch spawns
    assert detect_cluster_env({"SLURM_PROCID": "0", "SLURM_NTASKS": "1"}) is None
    assert detect_cluster_env({}) is None
    with pytest.raises(RuntimeError, match="MASTER_ADDR and MASTER_PORT"):
        detect_cluster_env({k: v for k, v in srun.items() if k != "MASTER_ADDR"})
    with pytest.raises(RuntimeError, match="SLURM_LOCALID"):
        detect_cluster_env({k: v for k, v in srun.items() if k != "SLURM_LOCALID"})


def test_collective_timeout_env_overrides_config(monkeypatch):
    monkeypatch.delenv("DECON_DIST_TIMEOUT_S", raising=False)
    assert collective_timeout(1800.0).total_seconds() == 1800
    monkeypatch.setenv("DECON_DIST_TIMEOUT_S", "12.5")
    assert collective_timeout(1800.0).total_seconds() == 12.5
