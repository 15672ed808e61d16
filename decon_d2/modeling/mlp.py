"""The SlotCon projector (1x1-conv MLP on maps) and slot predictor (MLP on vectors).

Both are three layers: in -> hidden (norm, GELU) -> hidden (norm, GELU) -> out, with truncated-
normal(0.02) weights and zero biases (SlotCon's DINO-style heads). Norm names come from the
config and are resolved for the process layout by the caller (``norm.resolve_norm``).
Submodules are ``mlp.{0..6}`` so keys read ``...projector.mlp.0.weight`` etc.

``Projector2d`` runs, by default (``impl="gemm"``), as matrix products on the pixels x channels
matrix of all views at once, with norm statistics per view (``pixel_mlp``): the same numbers as
the 1x1 convs view by view (``impl="conv"``, the reference), faster (docs/benchmarks.md).
``checkpoint=True`` (the decoder projectors, ``DEC_PROJ_CHECKPOINT``) keeps only its input for
backward and runs its forward again there; ``recompute=True`` (the memory mode) runs the views
one at a time, keeps only the pre-norm hidden matrices and runs norm + GELU again. Neither moves
the norm running statistics a second time.
"""
import torch
from detectron2.layers import get_norm
from torch import nn

from .norm import BatchNorm1dAs2d
from .pixel_mlp import from_rows, mlp_rows, rows_supported, to_rows
from .recompute import recomputed

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


class Projector2d(nn.Module):
    """Per-pixel MLP on ``N x C x H x W`` maps (1x1 convs + 2-D norm + GELU).

    Args:
        impl: "gemm" (rows, all views in one product; falls back to "conv" for norms or shapes
            it cannot take) or "conv" (1x1 convs, view by view: the reference).
        checkpoint: activation checkpointing when gradients are recorded (see module doc).
        recompute: one view at a time, keep only pre-norm activations, recompute norm + GELU in
            backward ("gemm").
    """

    IMPLS = ("gemm", "conv")

    def __init__(self, in_dim, hidden_dim, out_dim, norm, checkpoint=False, impl="gemm",
                 recompute=False):
        super().__init__()
        if impl not in self.IMPLS:
            raise ValueError(f"MODEL.DECON.SLOTCON.PROJ_IMPL must be one of {self.IMPLS}, "
                             f"got {impl!r}")
        self.checkpoint = bool(checkpoint)
        self.impl = impl
        self.recompute = bool(recompute)
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
        """``x``: one map, or a list of V maps (the views; norm statistics per map) -> the
        output map, or the list of V outputs."""
        if torch.is_tensor(x):
            return self._views([x])[0]
        return self._views(list(x))

    def _views(self, maps):
        if self.impl == "conv" or not self._rows_ok(maps):
            return [self._run(self.mlp, x) for x in maps]
        if (self.recompute or not torch.is_grad_enabled()) and len(maps) > 1:
            # One view at a time halves the temporaries: free without gradients (the teacher),
            # part of the memory mode with them (a weight gradient per view, summed).
            return [y for x in maps for y in self._views([x])]
        out = self._run(self._rows, to_rows(maps), len(maps))
        return from_rows(out, maps[0].shape, len(maps))

    def _rows_ok(self, maps):
        return all(x.shape == maps[0].shape for x in maps) and rows_supported(self.mlp)

    def _rows(self, rows, views):
        return mlp_rows(self.mlp, rows, views, recompute=self.recompute)

    def _run(self, fn, *args):
        return recomputed(self.mlp, fn, *args) if self.checkpoint else fn(*args)


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
