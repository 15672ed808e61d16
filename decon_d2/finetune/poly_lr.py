"""The poly learning-rate schedule of the segmentation protocol (mmsegmentation's ``poly``).

lr(t) = end + (base - end) * (1 - t)^power per iteration, t = iteration / MAX_ITER, power 0.9,
end = ``SOLVER.BASE_LR_END`` (ADE20K: 1e-4). Detectron2 has no poly schedule in its core; this
is an fvcore ``ParamScheduler`` (a multiplier of ``SOLVER.BASE_LR``) inside Detectron2's own
``WarmupParamScheduler``/``LRMultiplier``, so the ``LRScheduler`` hook saves and resumes it.
"""
from detectron2.solver.lr_scheduler import LRMultiplier, WarmupParamScheduler
from fvcore.common.param_scheduler import ParamScheduler

__all__ = ["PolyParamScheduler", "build_poly_lr_scheduler"]


class PolyParamScheduler(ParamScheduler):
    """Multiplier ``end + (1 - end) * (1 - where)^power``; ``end`` relative to the base lr."""

    def __init__(self, power: float, end: float = 0.0):
        self.power, self.end = float(power), float(end)

    def __call__(self, where: float) -> float:
        return self.end + (1.0 - self.end) * max(1.0 - where, 0.0) ** self.power


def build_poly_lr_scheduler(cfg, optimizer):
    """``SOLVER.LR_SCHEDULER_NAME: "WarmupPolyLR"``: poly decay after Detectron2's warm-up keys."""
    s = cfg.SOLVER
    if s.BASE_LR_END > s.BASE_LR:
        raise ValueError(f"SOLVER.BASE_LR_END ({s.BASE_LR_END}) is the poly schedule's final lr: "
                         f"it must not exceed SOLVER.BASE_LR ({s.BASE_LR})")
    sched = PolyParamScheduler(s.POLY_LR_POWER, s.BASE_LR_END / s.BASE_LR if s.BASE_LR else 0.0)
    sched = WarmupParamScheduler(sched, s.WARMUP_FACTOR, min(s.WARMUP_ITERS / s.MAX_ITER, 1.0),
                                 s.WARMUP_METHOD, s.RESCALE_INTERVAL)
    return LRMultiplier(optimizer, multiplier=sched, max_iter=s.MAX_ITER)
