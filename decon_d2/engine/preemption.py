"""``PreemptionHook``: on SIGTERM or SIGUSR1, every rank stops at the same iteration, after one
checkpoint of that iteration, and the process exits with ``REQUEUE_EXIT_CODE``.

Schedulers announce the end of a job with a signal: SLURM sends SIGTERM at preemption or at the
time limit (and SIGUSR1 ahead of it with ``--signal=USR1@120``), then SIGKILL after a grace
period. The handler only sets a flag, so a checkpoint being written is never interrupted by it;
``DeConCheckpointer`` writes files and ``last_checkpoint`` by atomic renames, so a SIGKILL during
the write leaves the previous checkpoint intact. Ranks receive signals at different moments, so
after every step the flag is all-reduced (MAX, one scalar): all ranks see it at the same
iteration boundary. The checkpoint holds what the periodic one holds (model with teacher and
queues, optimizer, scheduler, iteration); sampler position and RNG streams derive from the
iteration (``sampler.py``, ``hooks.IterationSeedHook``), so ``--resume`` continues exactly.
"""

import logging
import signal
import threading

import torch
import torch.distributed as dist
from detectron2.engine.hooks import HookBase
from detectron2.utils import comm

logger = logging.getLogger(__name__)

#: exit status of a run stopped by a signal at a checkpoint: sysexits.h's EX_TEMPFAIL
#: ("temporary failure; retry"); scripts/slurm_pretrain.sbatch requeues the job on it
REQUEUE_EXIT_CODE = 75
STOP_SIGNALS = (signal.SIGTERM, signal.SIGUSR1)


class Preempted(SystemExit):
    """Raised after the stop checkpoint; exits the process with ``REQUEUE_EXIT_CODE``."""

    def __init__(self, iteration: int, path: str):
        super().__init__(REQUEUE_EXIT_CODE)
        self.iteration, self.path = iteration, path


class PreemptionHook(HookBase):
    """Watch for SIGTERM/SIGUSR1; at the next iteration boundary agreed by all ranks, save
    ``model_{iter:07d}.pth`` (unless the periodic checkpointer just did) and raise
    ``Preempted``. Register it after every hook that changes state in ``after_step`` (teacher
    update, lr scheduler), so the checkpoint equals a periodic one of that iteration."""

    def __init__(self, checkpointer):
        self.checkpointer = checkpointer
        self.signum = None
        self._previous = {}

    def _handle(self, signum, frame):
        if self.signum is None:
            logger.warning(f"Received {signal.Signals(signum).name}: stopping at the end of "
                           f"this iteration with a checkpoint (exit {REQUEUE_EXIT_CODE}).")
        self.signum = signum

    def before_train(self):
        # Loader workers ignore these signals (decon_d2/data/build.py): SLURM signals the whole
        # process tree, and a dead worker would fail the step before the boundary is reached.
        if threading.current_thread() is threading.main_thread():
            for s in STOP_SIGNALS:
                self._previous[s] = signal.signal(s, self._handle)

    def after_train(self):
        for s, handler in self._previous.items():
            signal.signal(s, handler)
        self._previous = {}

    def _agreed(self) -> bool:
        flag = self.signum is not None
        if comm.get_world_size() == 1:
            return flag
        device = "cuda" if dist.get_backend() == "nccl" else "cpu"
        t = torch.tensor([1.0 if flag else 0.0], device=device)
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
        comm.synchronize()  # no rank exits (and no launcher kills the writer) before it is on disk
        path = ckpt.get_checkpoint_file() if ckpt.has_checkpoint() else name
        logger.warning(f"Stopped at iteration {it} with checkpoint {path}; exiting with "
                       f"{REQUEUE_EXIT_CODE} (requeue). Continue with --resume.")
        raise Preempted(it, path)

