"""Stop on a scheduler's signal: every rank stops at the same iteration, after one checkpoint of
that iteration, and the process exits with ``REQUEUE_EXIT_CODE``.

Schedulers announce the end of a job with a signal: SLURM sends SIGTERM at preemption, at the
time limit and on ``scancel`` (then SIGKILL after ``KillWait``), and SIGUSR1 ahead of the time
limit with ``--signal=USR1@120`` (docs/cluster.md says what arrives when).

- ``install_stop_handlers()`` runs first thing in every process (``train_net.py``,
  ``launch.py``), so a signal during start-up, model build, checkpoint load or the iteration-0
  probe is not fatal: it is remembered. The handler only records the signal number (nothing
  else is safe inside a handler), so a checkpoint being written is never interrupted by it.
- ``PreemptionHook`` all-reduces the flag after every step (MAX, one scalar): ranks receive
  signals at different moments and all must see it at the same iteration boundary. At the first
  boundary where any rank saw it, rank 0 writes ``model_{iter:07d}.pth`` (atomic,
  ``checkpoint.py``), then the stop record ``$DECON_STOP_RECORD`` (when set: the sbatch script
  decides the requeue from it, never from srun's exit status), and only then do the ranks pass a
  barrier, so no rank exits (and no launcher kills anyone) before both files are on disk.

The checkpoint holds what the periodic one holds (model with teacher and queues, optimizer,
scheduler, iteration); sampler position and RNG streams derive from the iteration
(``sampler.py``, ``hooks.IterationSeedHook``), so resuming continues exactly.
"""

import json
import logging
import os
import signal
import threading
import time
from typing import Optional

import torch
import torch.distributed as dist
from detectron2.engine.hooks import HookBase
from detectron2.utils import comm

from decon_d2.utils.atomic import atomic_write

logger = logging.getLogger(__name__)

#: exit status of a run stopped by a signal at a checkpoint: sysexits.h's EX_TEMPFAIL
#: ("temporary failure; retry")
REQUEUE_EXIT_CODE = 75
STOP_SIGNALS = (signal.SIGTERM, signal.SIGUSR1)
#: where rank 0 writes the stop record (JSON) after the stop checkpoint; set by the sbatch script
STOP_RECORD_ENV = "DECON_STOP_RECORD"

_received: Optional[int] = None  # the first stop signal this process received


def _record_signal(signum, frame):
    global _received
    if _received is None:
        _received = signum


def install_stop_handlers() -> bool:
    """Remember SIGTERM/SIGUSR1 instead of dying (main thread only). Returns False where
    handlers cannot be installed (not the main thread)."""
    if threading.current_thread() is not threading.main_thread():
        return False
    for s in STOP_SIGNALS:
        signal.signal(s, _record_signal)
    return True


def stop_handlers_installed() -> bool:
    return all(signal.getsignal(s) is _record_signal for s in STOP_SIGNALS)


def received_stop_signal() -> Optional[int]:
    """The first stop signal received since start (or the last ``clear_stop_signal``)."""
    return _received


def clear_stop_signal() -> None:
    global _received
    _received = None


class Preempted(SystemExit):
    """Raised after the stop checkpoint; exits the process with ``REQUEUE_EXIT_CODE``."""

    def __init__(self, iteration: int, path: str):
        super().__init__(REQUEUE_EXIT_CODE)
        self.iteration, self.path = iteration, path


def flag_device() -> torch.device:
    """Where the stop flag is all-reduced: this rank's GPU under NCCL, else the CPU."""
    if dist.get_backend() == "nccl":
        return torch.device("cuda", torch.cuda.current_device())
    return torch.device("cpu")


def write_stop_record(iteration: int, checkpoint: str, signum: Optional[int]) -> Optional[str]:
    """Rank 0: the stop record at ``$DECON_STOP_RECORD`` (atomic), or None when unset."""
    path = os.environ.get(STOP_RECORD_ENV)
    if not path:
        return None
    record = {"iteration": iteration, "checkpoint": checkpoint, "time": time.time(),
              "signal": signal.Signals(signum).name if signum else None,
              "slurm_job_id": os.environ.get("SLURM_JOB_ID"),
              "slurm_restart_count": int(os.environ.get("SLURM_RESTART_COUNT", 0) or 0)}
    with atomic_write(path, "w") as f:
        json.dump(record, f)
    return path


class PreemptionHook(HookBase):
    """At the first iteration boundary, agreed by all ranks, after a stop signal: save
    ``model_{iter:07d}.pth`` (unless the periodic checkpointer just did), write the stop record,
    and raise ``Preempted``. Register it after every hook that changes state in ``after_step``
    (teacher update, lr scheduler), so the checkpoint equals a periodic one of that iteration.

    Installs the handlers itself when the process has not (a trainer used from Python), and then
    restores the previous ones after training."""

    def __init__(self, checkpointer):
        self.checkpointer = checkpointer
        self._previous = {}
        self._announced = False

    def before_train(self):
        if not stop_handlers_installed():
            previous = {s: signal.getsignal(s) for s in STOP_SIGNALS}
            if install_stop_handlers():
                self._previous = previous
        if received_stop_signal() is not None:
            self._announce("before training")

    def after_train(self):
        clear_stop_signal()  # handled (a stop) or moot (the run ended): not for a next run
        for s, handler in self._previous.items():
            signal.signal(s, handler)
        self._previous = {}

    def _announce(self, when: str):
        if not self._announced:
            self._announced = True
            logger.warning(f"Received {signal.Signals(received_stop_signal()).name} {when}: "
                           f"stopping at the end of this iteration with a checkpoint "
                           f"(exit {REQUEUE_EXIT_CODE}).")

    def _agreed(self) -> bool:
        flag = received_stop_signal() is not None
        if flag:
            self._announce("during training")
        if comm.get_world_size() == 1:
            return flag
        t = torch.tensor([1.0 if flag else 0.0], device=flag_device())
        dist.all_reduce(t, op=dist.ReduceOp.MAX)
        return bool(t.item())

    def after_step(self):
        it = self.trainer.iter
        if not self._agreed() or it + 1 >= self.trainer.max_iter:
            return  # the last iteration: the run ends normally, with model_final.pth
        name = f"model_{it:07d}"
        ckpt = self.checkpointer
        if not (ckpt.has_checkpoint() and ckpt.get_checkpoint_file().endswith(name + ".pth")):
            ckpt.save(name, iteration=it)  # writes on the main process only
        path = ckpt.get_checkpoint_file() if ckpt.has_checkpoint() else name
        if comm.is_main_process():
            record = write_stop_record(it, path, received_stop_signal())
            if record:
                logger.info(f"Stop record written to {record}.")
        comm.synchronize()  # nobody exits (and no launcher kills rank 0) before both are on disk
        logger.warning(f"Stopped at iteration {it} with checkpoint {path}; exiting with "
                       f"{REQUEUE_EXIT_CODE}. A restarted job resumes from it by itself "
                       f"(--resume by hand).")
        # The stop checkpoint is on disk: from here a further signal may end the process.
        for s in STOP_SIGNALS:
            signal.signal(s, signal.SIG_DFL)
        self._previous = {}
        raise Preempted(it, path)
