"""Schedules as pure functions of the iteration, and the epoch -> iteration arithmetic.

Pure functions (no counters) make resume trivial: a resumed run recomputes every value from the
iteration stored in the checkpoint, so no hook carries state (docs/method.md §1.5, D2).
"""

import math
from dataclasses import dataclass
from typing import Tuple

from detectron2.solver.lr_scheduler import WarmupParamScheduler
from fvcore.common.param_scheduler import CosineParamScheduler, LinearParamScheduler


def cosine_momentum(it: int, max_iter: int, base: float = 0.99, final: float = 1.0) -> float:
    """EMA momentum at iteration ``it``:
    ``final - (final - base) * (cos(pi * it / max_iter) + 1) / 2``.

    With ``final = 1`` this is the paper's ``m(it) = 1 - (1 - m0) * (cos(pi * it / K) + 1) / 2``:
    ``m(0) = base``, ``m(max_iter) = final``.
    """
    t = min(max(it, 0), max_iter) / max(max_iter, 1)
    return final - (final - base) * (math.cos(math.pi * t) + 1.0) / 2.0


def warmup_cosine_lr_factor(
    it: int, max_iter: int, warmup_iters: int, start_factor: float, final_factor: float
) -> float:
    """Multiplier of the peak lr at iteration ``it`` (per-iteration, SlotCon/DeCon recipe).

    Linear from ``start_factor`` (paper: 1/100) to 1 over ``warmup_iters``, then a cosine from 1
    to ``final_factor`` over the remaining ``max_iter - warmup_iters`` iterations.
    """
    if it < warmup_iters:
        return start_factor + (1.0 - start_factor) * it / warmup_iters
    t = (it - warmup_iters) / max(max_iter - warmup_iters, 1)
    return final_factor + (1.0 - final_factor) * (math.cos(math.pi * min(t, 1.0)) + 1.0) / 2.0


def warmup_cosine_param_scheduler(
    max_iter: int, warmup_iters: int, start_factor: float, final_factor: float
):
    """The same schedule as an fvcore ``ParamScheduler`` (for Detectron2's ``LRMultiplier``).

    Built from Detectron2's ``WarmupParamScheduler`` with ``rescale_interval=True`` so the cosine
    starts at 1 right after the warm-up; ``LRMultiplier``'s state (the step count) is saved by
    Detectron2's ``LRScheduler`` hook, so resume needs nothing else.
    """
    cosine = CosineParamScheduler(1.0, final_factor)
    if warmup_iters <= 0:
        return cosine
    if warmup_iters >= max_iter:  # all warm-up (tiny runs): no cosine segment of length 0
        return LinearParamScheduler(start_factor, 1.0)
    return WarmupParamScheduler(
        cosine, start_factor, warmup_iters / max_iter, "linear", rescale_interval=True
    )


@dataclass(frozen=True)
class ScheduleArithmetic:
    """How epochs, data set size and batch turn into iterations and lr (printed at start)."""

    dataset_size: int
    global_batch: int
    world_size: int
    per_gpu_batch: int
    iters_per_epoch: int
    epochs: float
    max_iter: int
    warmup_iters: int
    base_lr: float
    lr: float
    # What overrode the epoch arithmetic, and why (explicit keys, the warm-up cap).
    notes: Tuple[str, ...] = ()

    def describe(self) -> str:
        lr = (
            f"lr {self.lr:g} (BASE_LR, not scaled)"
            if self.lr == self.base_lr
            else f"lr = BASE_LR {self.base_lr:g} x {self.global_batch} / 256 = {self.lr:g}"
        )
        return (
            f"data set size {self.dataset_size}; global batch {self.global_batch} = "
            f"{self.world_size} process(es) x {self.per_gpu_batch} per process; iters/epoch = "
            f"floor({self.dataset_size} / {self.global_batch}) = {self.iters_per_epoch}; "
            f"{self.epochs:g} epochs -> max iter {self.max_iter}; warm-up {self.warmup_iters} "
            f"iters; {lr}" + "".join(f"; {n}" for n in self.notes)
        )


def scaled_lr(base_lr: float, global_batch: int, scaling: str) -> float:
    """Effective peak lr: ``base_lr * global_batch / 256`` for "linear_256", else ``base_lr``."""
    if scaling == "linear_256":
        return base_lr * global_batch / 256.0
    if scaling == "none":
        return base_lr
    raise ValueError(f"SOLVER.DECON.LR_SCALING must be 'linear_256' or 'none', got {scaling!r}")


def compute_schedule(
    *,
    dataset_size: int,
    global_batch: int,
    world_size: int,
    epochs: float,
    warmup_epochs: float,
    max_iter: int,
    warmup_iters: int,
    base_lr: float,
    lr_scaling: str,
    keep_max_iter: bool = False,
    keep_warmup_iters: bool = False,
) -> ScheduleArithmetic:
    """Derive iterations from epochs (``epochs > 0``) or keep ``max_iter``/``warmup_iters``.

    ``iters_per_epoch = floor(dataset_size / global_batch)`` because the loader drops the last
    incomplete batch; e.g. COCO train2017 at 512: 231 iters/epoch, 184,800 for 800 epochs.
    ``keep_max_iter`` / ``keep_warmup_iters``: the user set that key explicitly, so it wins over
    the epochs (docs/engine.md "Explicit keys win"); the notes say so. A warm-up longer than
    the run is cut to ``max_iter``, also with a note.
    """
    if global_batch % world_size:
        raise ValueError(
            f"SOLVER.IMS_PER_BATCH={global_batch} is the global batch and must be divisible by "
            f"the number of processes ({world_size})"
        )
    iters_per_epoch = dataset_size // global_batch if dataset_size else 0
    notes = []
    if epochs > 0:
        if iters_per_epoch == 0:
            raise ValueError(
                f"data set of {dataset_size} images is smaller than one global batch "
                f"({global_batch}): no iteration per epoch"
            )
        derived = int(iters_per_epoch * epochs)
        if keep_max_iter and max_iter != derived:
            notes.append(f"SOLVER.MAX_ITER {max_iter} set explicitly: used instead of "
                         f"SOLVER.DECON.EPOCHS {epochs:g} x {iters_per_epoch} = {derived}")
        max_iter = max_iter if keep_max_iter else derived
        derived = int(iters_per_epoch * warmup_epochs)
        if keep_warmup_iters and warmup_iters != derived:
            notes.append(f"SOLVER.WARMUP_ITERS {warmup_iters} set explicitly: used instead of "
                         f"SOLVER.DECON.WARMUP_EPOCHS {warmup_epochs:g} x {iters_per_epoch} = "
                         f"{derived}")
        warmup_iters = warmup_iters if keep_warmup_iters else derived
    if warmup_iters > max_iter:
        notes.append(f"warm-up of {warmup_iters} iterations cut to MAX_ITER {max_iter}")
    return ScheduleArithmetic(
        dataset_size=dataset_size,
        global_batch=global_batch,
        world_size=world_size,
        per_gpu_batch=global_batch // world_size,
        iters_per_epoch=iters_per_epoch,
        epochs=max_iter / iters_per_epoch if iters_per_epoch else epochs,
        max_iter=max_iter,
        warmup_iters=min(warmup_iters, max_iter),
        base_lr=base_lr,
        lr=scaled_lr(base_lr, global_batch, lr_scaling),
        notes=tuple(notes),
    )
