"""DenseCL's neck: a global and a dense projection branch in parallel on one feature map.

Global: average pool -> Linear(in, hid) -> ReLU -> Linear(hid, out) (MoCo v2's head). Dense:
1x1 conv in -> hid -> ReLU -> 1x1 conv hid -> out on every grid cell. Initialised as DenseCL
does: the Linear layers Kaiming-normal (fan-in, ReLU) with zero bias, the 1x1 convs PyTorch's
default. Submodules are ``global_mlp.{0,2}`` and ``dense_mlp.{0,2}``.

``checkpoint=True`` (``MODEL.DECON.DENSECL.DEC_PROJ_CHECKPOINT``, decoder levels) keeps only the
input of the dense branch for backward and runs it again there: at p2 its hidden map is
B x 2048 x 56 x 56. The neck has no norm, so the recomputation changes no statistics.
"""
import torch
from torch import nn
from torch.utils.checkpoint import checkpoint as _checkpoint

__all__ = ["DenseCLNeck"]


class DenseCLNeck(nn.Module):
    """``forward(x: B x C x H x W) -> (global B x out, dense B x out x H x W)``, un-normalised."""

    def __init__(self, in_dim, hidden_dim, out_dim, checkpoint=False):
        super().__init__()
        self.checkpoint = bool(checkpoint)
        self.global_mlp = nn.Sequential(
            nn.Linear(in_dim, hidden_dim), nn.ReLU(inplace=True), nn.Linear(hidden_dim, out_dim))
        self.dense_mlp = nn.Sequential(
            nn.Conv2d(in_dim, hidden_dim, 1), nn.ReLU(inplace=True),
            nn.Conv2d(hidden_dim, out_dim, 1))
        for m in self.global_mlp:
            if isinstance(m, nn.Linear):
                nn.init.kaiming_normal_(m.weight, mode="fan_in", nonlinearity="relu")
                nn.init.zeros_(m.bias)

    def forward(self, x):
        g = self.global_mlp(x.mean(dim=(2, 3)))
        if self.checkpoint and torch.is_grad_enabled():
            d = _checkpoint(self.dense_mlp, x, use_reentrant=False)
        else:
            d = self.dense_mlp(x)
        return g, d
