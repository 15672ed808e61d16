"""``ToyHead``: a 1x1-conv projector and a cosine loss between the views on their overlap
(BYOL's 2 - 2 cos, no predictor), following the contract of ``SSL_HEAD_REGISTRY.__doc__``."""
import torch
import torch.nn.functional as F
from detectron2.config import configurable
from torch import nn
from torchvision.ops import roi_align

from decon_d2.modeling.heads import SSL_HEAD_REGISTRY

__all__ = ["ToyHead"]


def _overlap(x, boxes, flips):
    """Each map cropped to the views' overlap, resized back, the view's flip undone."""
    b, _, h, w = x.shape
    rois = torch.cat([torch.arange(b, dtype=x.dtype)[:, None], boxes * x.new_tensor([w, h, w, h])],
                     dim=1)
    out = roi_align(x, rois, (h, w), aligned=True)
    return torch.where(flips.view(b, 1, 1, 1), out.flip(-1), out)


class ToyHead(nn.Module):
    @configurable
    def __init__(self, *, in_channels, dim):
        super().__init__()
        self._kwargs = {"in_channels": in_channels, "dim": dim}
        self.projector = nn.Conv2d(in_channels, dim, 1)

    @classmethod
    def from_config(cls, cfg, in_channels, is_decoder):
        return {"in_channels": in_channels, "dim": cfg.MODEL.DECON.TOY.DIM}

    def make_teacher(self):
        twin = type(self)(**self._kwargs)
        twin.load_state_dict(self.state_dict())
        return twin.requires_grad_(False)

    def forward(self, student_feats, teacher_feats, teacher, boxes, flips):
        loss = 0.0
        for i in (0, 1):
            s = _overlap(self.projector(student_feats[i]), boxes[i], flips[i])
            with torch.no_grad():
                t = _overlap(teacher.projector(teacher_feats[1 - i]), boxes[1 - i], flips[1 - i])
            loss = loss + (2 - 2 * F.cosine_similarity(s, t, dim=1)).mean()
        return {"cosine": loss}, {"cosine": loss.detach()}


if "ToyHead" not in SSL_HEAD_REGISTRY:  # Detectron2's registry refuses a second registration
    SSL_HEAD_REGISTRY.register(ToyHead)
