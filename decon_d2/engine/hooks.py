"""Hooks of the pre-training loop: the EMA teacher update, per-iteration RNG seeding and
DenseCL's lambda warm-up.

Both derive everything from ``trainer.iter``; they keep no counters, so resume needs no hook state.
"""

import logging
import math

from detectron2.engine.hooks import HookBase
from detectron2.utils import comm
from torch.nn.parallel import DistributedDataParallel

from decon_d2.utils.seeding import iteration_seed, seed_rngs

from .schedules import cosine_momentum

logger = logging.getLogger(__name__)


def unwrap_ddp(model):
    """The module inside ``DistributedDataParallel`` (or the model itself)."""
    return model.module if isinstance(model, DistributedDataParallel) else model


class MomentumTeacherHook(HookBase):
    """teacher <- m * teacher + (1 - m) * student after every optimiser step, on every process.

    After the step of iteration ``it`` (``trainer.iter``, 0-based, the iteration just completed)
    the update uses ``m = cosine_momentum(it, max_iter, m0, m_final)``: the first update uses
    ``m0`` and the teacher used by iteration ``it + 1`` has had exactly ``it + 1`` updates.
    SlotCon/DeCon update inside ``forward`` instead, before the teacher pass: their update at step
    ``it + 1`` mixes in the student left by step ``it`` with ``m(it + 1)``; here the same update
    happens right after step ``it`` with ``m(it)`` (the index differs by one, a change of at most
    ``(1 - m0) * pi / max_iter``; their no-op update at step 0 disappears). Moving it after the
    step means an extra forward never moves the teacher, and a checkpoint holds the post-update
    teacher. Every process applies the same
    update to identical students, so teachers stay identical without communication.

    ``before_train`` copies student into teacher on a fresh run (``start_iter == 0``), which also
    covers ``MODEL.WEIGHTS`` initialisation; on resume the teacher comes from the checkpoint.
    """

    def __init__(self, base_momentum: float = 0.99, final_momentum: float = 1.0):
        self.base_momentum = base_momentum
        self.final_momentum = final_momentum

    def _model(self):
        model = unwrap_ddp(self.trainer.model)
        for method in ("momentum_update", "copy_student_to_teacher"):
            if not callable(getattr(model, method, None)):
                raise TypeError(f"{type(model).__name__} has no {method}(): not a teacher model")
        return model

    def before_train(self):
        if self.trainer.start_iter == 0:
            self._model().copy_student_to_teacher()
            logger.info("Fresh run: teacher initialised as an exact copy of the student.")
        # the product of the momenta applied so far (a resumed run recomputes it)
        self.initial_share = math.prod(self.momentum(i) for i in range(self.trainer.start_iter))

    def momentum(self, it: int) -> float:
        return cosine_momentum(it, self.trainer.max_iter, self.base_momentum, self.final_momentum)

    def after_step(self):
        """Also logs ``decon/teacher_initial_share``: the weight the initial network still has
        in the teacher (the product of every momentum applied), what a short run exports."""
        m = self.momentum(self.trainer.iter)
        self._model().momentum_update(m)
        self.initial_share *= m
        storage = self.trainer.storage
        storage.put_scalar("decon/teacher_momentum", m, smoothing_hint=False)
        storage.put_scalar("decon/teacher_initial_share", self.initial_share, smoothing_hint=False)


class IterationSeedHook(HookBase):
    """Seed torch, numpy and random from ``(SEED, iteration, rank)`` before every step.

    Detectron2 seeds once at start, so a resumed run would continue with a different random stream
    than an uninterrupted one (dropout masks, and with ``NUM_WORKERS: 0`` the augmentations, which
    then run inside the step). Re-seeding per iteration makes iteration ``it`` draw the same
    numbers whichever run it belongs to. Augmentations are seeded per sample by
    ``sampler.SampleSeededMapper`` (they may run in loader workers).
    """

    def __init__(self, base_seed: int):
        self.base_seed = base_seed

    def before_step(self):
        seed_rngs(iteration_seed(self.base_seed, self.trainer.iter, comm.get_rank()))


class DenseLossWarmupHook(HookBase):
    """DenseCL's optional warm-up: lambda = 0 (global loss only) for the first ``iters``
    iterations (``MODEL.DECON.DENSECL.LAMBDA_WARMUP_ITERS``), then the configured lambda.

    Sets ``dense_warmup`` on every head that has it (``DenseCLHead``) before each step, from
    ``trainer.iter`` alone, so a resumed run needs no hook state.
    """

    def __init__(self, iters: int):
        self.iters = int(iters)

    def _heads(self):
        return [m for m in unwrap_ddp(self.trainer.model).modules() if hasattr(m, "dense_warmup")]

    def before_train(self):
        if not self._heads():
            raise ValueError("MODEL.DECON.DENSECL.LAMBDA_WARMUP_ITERS > 0 but the model has no "
                             "DenseCL head (MODEL.DECON.HEAD.NAME); set it to 0")

    def before_step(self):
        for head in self._heads():
            head.dense_warmup = self.trainer.iter < self.iters
