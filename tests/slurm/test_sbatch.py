"""The shipped ``scripts/slurm_pretrain.sbatch`` under a real SLURM (2 CPU tasks, gloo on
127.0.0.1), as a cluster delivers its signals (docs/cluster.md):

- the time-limit warning (``--signal=USR1@120`` delivers USR1 to the tasks; here
  ``scancel --signal=USR1``, the same delivery) stops the run at a checkpoint and the script
  requeues the job although the ranks' exits are far apart (rank 0 exits 6 s late, so srun's
  ``--kill-on-bad-exit`` kills it: the order in which the requeue used to be lost);
- preemption as SLURM does it (``scontrol requeue``: SIGTERM, ``KillWait``, requeue) stops it
  again; each requeued job resumes by itself, the finished job is not requeued, at most
  CHECKPOINT_MAX_KEEP checkpoints stay, and the final weights equal the uninterrupted run's;
- a stop past ``DECON_MAX_REQUEUES`` is not requeued; ``--resume`` continues it; ``scancel``
  keeps the stop checkpoint and ends the job; a job that fails is not requeued.
"""
import re
import time
from pathlib import Path

import pytest
import torch

from tests.helpers.cluster import ITERS, assert_same_model

from .conftest import ENDED, wait_for_file

LATE_RANK0 = {"PYTHONPATH": str(Path(__file__).resolve().parent / "rank0_exits_late"),
              "DECON_TEST_RANK0_EXIT_DELAY_S": "6"}
START_S = 240  # a slot's start-up (imports, model, loader) on a loaded 2-core machine


def _requeued(restarts):
    return lambda j: j.get("JobState") == "PENDING" and int(j.get("Restarts", 0)) == restarts


def _ended(j):
    return j.get("JobState") in ENDED


def _slots(out, count, last_line, timeout=30):
    """The console of each of ``count`` slots (the script's first line starts each), once the
    last one shows ``last_line`` (SLURM may report the job's end before the script's last line
    reaches the file)."""
    deadline = time.monotonic() + timeout
    while True:
        text = (out / "slurm.out").read_text()
        slots = re.split(r"slurm_pretrain: job \d+, restart \d+", text)[1:]
        if len(slots) == count and last_line in slots[-1]:
            return slots, text
        assert time.monotonic() < deadline, f"no {last_line!r} in slot {count}:\n{text[-3000:]}"
        time.sleep(0.2)


def _stopped_at(out) -> int:
    return int(re.fullmatch(r"model_(\d+)\.pth", (out / "last_checkpoint").read_text()).group(1))


@pytest.mark.slow
def test_usr1_then_requeue_then_finish_equals_the_uninterrupted_run(slurm, reference_run,
                                                                     tmp_path):
    out = tmp_path / "run"
    job = slurm.submit(out, "SOLVER.CHECKPOINT_PERIOD", "1", env=LATE_RANK0)
    # Slot 1: the time-limit warning, after iteration 0.
    wait_for_file(out / "model_0000000.pth", slurm, job, START_S)
    slurm.cmd("scancel", "--signal=USR1", job)
    slurm.wait(job, _requeued(1), "requeue after USR1", 120, out)
    first = _stopped_at(out)
    slurm.release(job)
    # Slot 2: preemption (SIGTERM to the tasks, KillWait, requeue by SLURM) after one iteration.
    wait_for_file(out / f"model_{first + 1:07d}.pth", slurm, job, START_S)
    slurm.cmd("scontrol", "requeue", job)
    slurm.wait(job, _requeued(2), "requeue by SLURM", 120, out)
    second = _stopped_at(out)
    slurm.release(job)
    # Slot 3: runs to the end and is not requeued.
    info = slurm.wait(job, _ended, "end", START_S + 120, out)
    slots, text = _slots(out, 3, "srun exited with status")
    assert info["JobState"] == "COMPLETED" and info["Restarts"] == "2", (info, text[-4000:])
    # rank 0 was killed by srun (no 75 from srun), and the stop record still requeued the job
    assert "srun exited with status 75" not in slots[0], slots[0]
    assert "requeueing job" in slots[0], slots[0]
    assert "SLURM has requeued this job itself" in slots[1], slots[1]
    assert "srun exited with status 0" in slots[2] and "requeueing" not in slots[2], slots[2]
    resumed = [int(x) for x in re.findall(r"Resuming at iteration (\d+)",
                                          (out / "log.txt").read_text())]
    assert resumed == [first + 1, second + 1] and first < second < ITERS - 1, (resumed, second)
    assert not list(out.glob(".decon-stop-*")), "the stop record was left behind"
    assert_same_model(out, reference_run)
    kept = sorted(p.name for p in out.glob("model_*.pth"))
    assert kept[-1] == "model_final.pth" and len(kept) == 4, kept  # CHECKPOINT_MAX_KEEP 3 + final
    meta = torch.load(out / "model_final.pth", map_location="cpu", weights_only=False)["decon_meta"]
    assert (meta["max_iter"], meta["global_batch"]) == (ITERS, 4), meta


@pytest.mark.slow
def test_requeues_are_bounded_scancel_keeps_the_checkpoint_and_failures_are_not_requeued(
        slurm, tmp_path):
    out = tmp_path / "run"
    # A stop past DECON_MAX_REQUEUES: the checkpoint is kept, the job is not requeued.
    job = slurm.submit(out, "SOLVER.CHECKPOINT_PERIOD", "1", env={"DECON_MAX_REQUEUES": "0"})
    wait_for_file(out / "model_0000000.pth", slurm, job, START_S)
    slurm.cmd("scancel", "--signal=USR1", job)
    info = slurm.wait(job, _ended, "end", 120, out)
    slots, text = _slots(out, 1, "reached DECON_MAX_REQUEUES=0")
    assert (info["JobState"], info["Restarts"]) == ("FAILED", "0"), (info, text[-3000:])
    assert "reached DECON_MAX_REQUEUES=0" in slots[0] and "--resume" in slots[0], slots[0]
    first = _stopped_at(out)
    # Resubmitted with --resume: continues; scancel (SIGTERM, KillWait) keeps the stop
    # checkpoint and ends the job without a requeue.
    job = slurm.submit(out, "--resume", "SOLVER.CHECKPOINT_PERIOD", "1")
    wait_for_file(out / f"model_{first + 1:07d}.pth", slurm, job, START_S)
    slurm.cmd("scancel", job)
    info = slurm.wait(job, _ended, "end", 120, out)
    slots, text = _slots(out, 2, "the job was cancelled; not requeueing")
    assert (info["JobState"], info["Restarts"]) == ("CANCELLED", "0"), (info, text[-3000:])
    assert "the job was cancelled; not requeueing" in slots[1], slots[1]
    stopped = _stopped_at(out)
    assert stopped > first and f"Stopped at iteration {stopped}" in (out / "log.txt").read_text()
    assert f"Resuming at iteration {first + 1}" in (out / "log.txt").read_text()
    ckpt = torch.load(out / f"model_{stopped:07d}.pth", map_location="cpu", weights_only=False)
    assert ckpt["iteration"] == stopped and "optimizer" in ckpt["trainer"]["_trainer"]
    # Submitted again without --resume: the run in OUTPUT_DIR is not overwritten, every rank
    # fails, and the job is not requeued.
    job = slurm.submit(out, "SOLVER.CHECKPOINT_PERIOD", "1")
    info = slurm.wait(job, _ended, "end", START_S, out)
    slots, text = _slots(out, 3, "srun exited with status")
    assert (info["JobState"], info["Restarts"]) == ("FAILED", "0"), (info, text[-3000:])
    assert "holds a run" in slots[2] and "--resume" in slots[2], slots[2]
    assert "requeueing" not in slots[2] and _stopped_at(out) == stopped
