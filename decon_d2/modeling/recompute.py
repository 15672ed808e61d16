"""Activation recomputation (``torch.utils.checkpoint``) that never counts norm statistics twice.

A checkpointed block keeps only its inputs for backward and runs its forward again there. In
training mode that second forward would move BatchNorm running statistics (and
``num_batches_tracked``) a second time; ``recomputed`` restores every buffer of the module after
the recomputation, so losses, gradients and statistics equal those of the plain forward.
"""
import contextlib

import torch
from torch.utils.checkpoint import checkpoint

__all__ = ["buffers_restored", "recomputed"]


@contextlib.contextmanager
def buffers_restored(module):
    """Run the block, then put every buffer of ``module`` back as it was (no counting twice)."""
    saved = [(b, b.clone()) for b in module.buffers()]
    try:
        yield
    finally:
        with torch.no_grad():
            for b, v in saved:
                b.copy_(v)


def recomputed(module, fn, *args):
    """``fn(*args)`` checkpointed when gradients are recorded (plain otherwise); ``module`` owns
    the buffers ``fn`` may update."""
    if not torch.is_grad_enabled():
        return fn(*args)
    return checkpoint(fn, *args, use_reentrant=False,
                      context_fn=lambda: (contextlib.nullcontext(), buffers_restored(module)))


def resnet_features(resnet, x, recompute=False):
    """``resnet(x)`` (a Detectron2 ``ResNet``), with ``recompute`` its stem and each stage
    checkpointed: only the stage inputs are kept for backward."""
    if not (recompute and torch.is_grad_enabled()):
        return resnet(x)
    wanted = resnet.output_shape()
    out = {}
    x = recomputed(resnet.stem, resnet.stem, x)
    if "stem" in wanted:
        out["stem"] = x
    for name, stage in zip(resnet.stage_names, resnet.stages):
        x = recomputed(stage, stage, x)
        if name in wanted:
            out[name] = x
    return out
