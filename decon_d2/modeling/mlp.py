"""The SlotCon projector (1x1-conv MLP on maps) and slot predictor (MLP on vectors).

Both are three layers: in -> hidden (norm, GELU) -> hidden (norm, GELU) -> out, with truncated-
normal(0.02) weights and zero biases (SlotCon's DINO-style heads). Norm names come from the
config and are resolved for the process layout by the caller (``norm.resolve_norm``).
Submodules are ``mlp.{0..6}`` so keys read ``...projector.mlp.0.weight`` etc.

``Projector2d(checkpoint=True)`` (the decoder projectors, ``DEC_PROJ_CHECKPOINT``) keeps only its
input for backward and runs its forward again there: at p2 its hidden activations (several
``N x 4096 x H/4 x W/4`` tensors per view) dominate training memory. The recomputation must not
move the norm running statistics a second time, so their buffers are restored after it.
"""
import contextlib

import torch
from detectron2.layers import get_norm
from torch import nn
from torch.utils.checkpoint import checkpoint as _checkpoint

from .norm import BatchNorm1dAs2d

__all__ = ["Projector2d", "SlotPredictor"]


def _norm2d(norm, channels):
    layer = get_norm(norm, channels)
    return nn.Identity() if layer is None else layer  # "" = no norm


def _init_(module):
    for m in module.modules():
        if isinstance(m, (nn.Conv2d, nn.Linear)):
            nn.init.trunc_normal_(m.weight, std=0.02)
            if m.bias is not None:
                nn.init.zeros_(m.bias)


@contextlib.contextmanager
def _buffers_restored(module):
    """Run the block, then put every buffer of ``module`` back as it was (no counting twice)."""
    saved = [(b, b.clone()) for b in module.buffers()]
    try:
        yield
    finally:
        with torch.no_grad():
            for b, v in saved:
                b.copy_(v)


class Projector2d(nn.Module):
    """Per-pixel MLP on an ``N x C x H x W`` map (1x1 convs + 2-D norm + GELU).

    ``checkpoint=True``: activation checkpointing when gradients are recorded (see module doc).
    """

    def __init__(self, in_dim, hidden_dim, out_dim, norm, checkpoint=False):
        super().__init__()
        self.checkpoint = bool(checkpoint)
        self.mlp = nn.Sequential(
            nn.Conv2d(in_dim, hidden_dim, 1),
            _norm2d(norm, hidden_dim),
            nn.GELU(),
            nn.Conv2d(hidden_dim, hidden_dim, 1),
            _norm2d(norm, hidden_dim),
            nn.GELU(),
            nn.Conv2d(hidden_dim, out_dim, 1),
        )
        _init_(self)

    def forward(self, x):
        if self.checkpoint and torch.is_grad_enabled():
            return _checkpoint(self.mlp, x, use_reentrant=False, context_fn=self._contexts)
        return self.mlp(x)

    def _contexts(self):
        # (forward, recomputation): the recomputation leaves the norm statistics untouched.
        return contextlib.nullcontext(), _buffers_restored(self.mlp)


class SlotPredictor(nn.Module):
    """MLP on ``N x C`` slot vectors; the norm statistics are those of the N rows it is given."""

    def __init__(self, in_dim, hidden_dim, out_dim, norm):
        super().__init__()
        self.mlp = nn.Sequential(
            nn.Linear(in_dim, hidden_dim),
            BatchNorm1dAs2d(norm, hidden_dim),
            nn.GELU(),
            nn.Linear(hidden_dim, hidden_dim),
            BatchNorm1dAs2d(norm, hidden_dim),
            nn.GELU(),
            nn.Linear(hidden_dim, out_dim),
        )
        _init_(self)

    def forward(self, x):
        return self.mlp(x)
