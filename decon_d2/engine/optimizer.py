"""``build_optimizer(cfg, model)``: LARS, SGD or AdamW over the student's trainable parameters.

Two groups: weights (matrices, convolutions, prototypes) get weight decay and, for LARS, the trust
ratio; biases and norm parameters (every 1-D parameter, SlotCon's rule) get neither, unless
``SOLVER.DECON.WEIGHT_DECAY_NORM_BIAS`` (DenseCL/MoCo's SGD decays every parameter). Teacher
parameters have ``requires_grad=False`` and are never handed to the optimiser.
"""

import logging

import torch

from .lars import LARS
from .schedules import scaled_lr

logger = logging.getLogger(__name__)


def split_decay_groups(model: torch.nn.Module):
    """Return ``(decay, no_decay)`` lists of trainable parameters (1-D ones are ``no_decay``)."""
    decay, no_decay, seen = [], [], set()
    for p in model.parameters():
        if not p.requires_grad or id(p) in seen:
            continue
        seen.add(id(p))
        (no_decay if p.ndim <= 1 else decay).append(p)
    return decay, no_decay


def build_optimizer(cfg, model: torch.nn.Module) -> torch.optim.Optimizer:
    """The optimiser named by ``SOLVER.DECON.OPTIMIZER``, at the scaled peak lr."""
    lr = scaled_lr(cfg.SOLVER.BASE_LR, cfg.SOLVER.IMS_PER_BATCH, cfg.SOLVER.DECON.LR_SCALING)
    wd = cfg.SOLVER.WEIGHT_DECAY
    decay, no_decay = split_decay_groups(model)
    name = cfg.SOLVER.DECON.OPTIMIZER
    wd_1d = wd if cfg.SOLVER.DECON.WEIGHT_DECAY_NORM_BIAS else 0.0
    if wd_1d and name == "LARS":
        raise ValueError("SOLVER.DECON.WEIGHT_DECAY_NORM_BIAS is for SGD/AdamW (DenseCL's rule); "
                         "LARS keeps biases and norms out of decay and trust ratio: set it False")
    if name == "LARS":
        groups = [
            {"params": decay},
            {"params": no_decay, "apply_weight_decay": False, "apply_trust_ratio": False},
        ]
        opt = LARS(
            groups,
            lr=lr,
            momentum=cfg.SOLVER.MOMENTUM,
            weight_decay=wd,
            eta=cfg.SOLVER.DECON.LARS_ETA,
        )
    elif name == "SGD":
        groups = [{"params": decay}, {"params": no_decay, "weight_decay": wd_1d}]
        opt = torch.optim.SGD(
            groups,
            lr=lr,
            momentum=cfg.SOLVER.MOMENTUM,
            weight_decay=wd,
            nesterov=cfg.SOLVER.NESTEROV,
        )
    elif name == "AdamW":
        groups = [{"params": decay}, {"params": no_decay, "weight_decay": wd_1d}]
        opt = torch.optim.AdamW(
            groups, lr=lr, betas=tuple(cfg.SOLVER.DECON.ADAMW_BETAS), weight_decay=wd
        )
    else:
        raise ValueError(f"SOLVER.DECON.OPTIMIZER must be LARS, SGD or AdamW, got {name!r}")
    logger.info(
        f"{name}: peak lr {lr:g}, weight decay {wd:g} on {len(decay)} weight tensors, "
        f"{wd_1d:g} on {len(no_decay)} bias/norm tensors"
    )
    return opt
