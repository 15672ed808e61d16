"""``SlotConHead``: SlotCon's semantic grouping + group loss + slot contrast on one feature level.

Student head: ``projector``, ``prototypes`` (K x D embedding), student-only ``predictor``, and the
``center`` buffer (1 x K) of the teacher scores. Teacher twin (``make_teacher``): ``projector``
and ``prototypes`` only, frozen, EMA-updated by the meta-architecture. The twin's prototypes are
EMA'd at every level (the authors' code leaves the decoder twin's at random init: a bug).

Level loss (docs/method.md §2.1):
    w_g * (SD(s1, t2) + SD(s2, t1)) + (1 - w_g) * (CTR(q1, k2) + CTR(q2, k1)).
"""
import torch
from detectron2.config import configurable
from torch import nn

from ...dist import all_reduce_sum
from ...mlp import Projector2d, SlotPredictor
from ...norm import resolve_norm
from ..build import SSL_HEAD_REGISTRY
from .health import slot_health
from .ops import align_scores, presence, self_distillation, semantic_grouping, slot_contrast

__all__ = ["SlotConHead"]


@SSL_HEAD_REGISTRY.register()
class SlotConHead(nn.Module):
    """SlotCon loss head. See the module docstring and ``SSL_HEAD_REGISTRY.__doc__``.

    Args:
        in_channels: channels of the feature map it reads (2048 for res5, 256 for FPN levels).
        proj_hidden_dim, out_dim: projector widths (out_dim = prototype/slot dimension).
        pred_hidden_dim: predictor hidden width.
        num_prototypes: K.
        teacher_temp, student_temp: group-loss temperatures (teacher_temp also for grouping).
        contrast_temp: slot-contrast temperature.
        group_loss_weight: w_g.
        center_momentum: EMA momentum of the center.
        norm: resolved norm name of the projector; pred_norm: of the predictor.
        proj_checkpoint: activation checkpointing of the projector (a memory dial).
        proj_impl, proj_recompute: the projector's fast path and its norm + GELU recomputation
            (``Projector2d``; same numbers).
        role: "student" (with predictor and center) or "teacher" (twin, frozen).
    """

    @configurable
    def __init__(
        self,
        *,
        in_channels,
        proj_hidden_dim,
        out_dim,
        pred_hidden_dim,
        num_prototypes,
        teacher_temp,
        student_temp,
        contrast_temp,
        group_loss_weight,
        center_momentum,
        norm,
        pred_norm,
        proj_checkpoint=False,
        proj_impl="gemm",
        proj_recompute=False,
        role="student",
    ):
        super().__init__()
        assert role in ("student", "teacher"), role
        self._kwargs = {k: v for k, v in locals().items() if k not in ("self", "__class__")}
        self.role = role
        self.teacher_temp = teacher_temp
        self.student_temp = student_temp
        self.contrast_temp = contrast_temp
        self.group_loss_weight = group_loss_weight
        self.center_momentum = center_momentum
        self.projector = Projector2d(in_channels, proj_hidden_dim, out_dim, norm,
                                     checkpoint=proj_checkpoint, impl=proj_impl,
                                     recompute=proj_recompute)
        self.prototypes = nn.Embedding(num_prototypes, out_dim)  # N(0, 1) init, as SlotCon
        if role == "student":
            self.predictor = SlotPredictor(out_dim, pred_hidden_dim, out_dim, pred_norm)
            self.register_buffer("center", torch.zeros(1, num_prototypes))

    @classmethod
    def from_config(cls, cfg, in_channels, is_decoder):
        c = cfg.MODEL.DECON.SLOTCON
        dec_hidden = c.DEC_PROJ_HIDDEN_DIM
        hidden = dec_hidden if is_decoder and dec_hidden > 0 else c.PROJ_HIDDEN_DIM
        k = c.NUM_PROTOTYPES_DEC if is_decoder and c.NUM_PROTOTYPES_DEC > 0 else c.NUM_PROTOTYPES
        return {
            "in_channels": in_channels,
            "proj_hidden_dim": hidden,
            "out_dim": c.PROJ_OUT_DIM,
            "pred_hidden_dim": c.PRED_HIDDEN_DIM,
            "num_prototypes": k,
            "teacher_temp": c.TEACHER_TEMP,
            "student_temp": c.STUDENT_TEMP,
            "contrast_temp": c.CONTRAST_TEMP,
            "group_loss_weight": c.GROUP_LOSS_WEIGHT_DEC if is_decoder else c.GROUP_LOSS_WEIGHT,
            "center_momentum": c.CENTER_MOMENTUM,
            "norm": resolve_norm(c.NORM, cfg.MODEL.DEVICE),
            "pred_norm": resolve_norm(c.NORM, cfg.MODEL.DEVICE, count_weighted=True),
            "proj_checkpoint": bool(is_decoder and c.DEC_PROJ_CHECKPOINT),
            "proj_impl": c.PROJ_IMPL,
            "proj_recompute": c.PROJ_RECOMPUTE_NORM_ACT,
        }

    def make_teacher(self):
        """Frozen twin (projector + prototypes) with this head's current weights."""
        twin = type(self)(**{**self._kwargs, "role": "teacher"})
        twin.load_state_dict(self.state_dict(), strict=False)  # drops predictor/center keys
        return twin.requires_grad_(False).to(self.prototypes.weight.device)

    def embed(self, x):
        """Project a map and group it: returns (slots B x K x D, scores B x K x H x W)."""
        return self.embed_views([x])[0]

    def embed_views(self, maps):
        """``embed`` of each view, the projector running on all views at once."""
        return [semantic_grouping(z, self.prototypes.weight, self.teacher_temp)
                for z in self.projector(maps)]

    def forward(self, student_feats, teacher_feats, teacher, boxes, flips):
        """Level loss parts and logs for two views (see ``SSL_HEAD_REGISTRY.__doc__``)."""
        assert self.role == "student", "call the student head; it runs its teacher twin"
        s_slots, s_scores = zip(*self.embed_views(student_feats))
        with torch.no_grad():
            t_slots, t_scores = zip(*teacher.embed_views(teacher_feats))
        s_aligned = [align_scores(a, b, f) for a, b, f in zip(s_scores, boxes, flips)]
        t_aligned = [align_scores(a, b, f) for a, b, f in zip(t_scores, boxes, flips)]

        center = self.center
        group = sum(
            self_distillation(s_aligned[i], t_aligned[1 - i], center, self.student_temp,
                              self.teacher_temp)
            for i in (0, 1)
        )
        s_present = [presence(a) for a in s_scores]
        t_present = [presence(a) for a in t_scores]
        contrast, skipped = 0.0, 0
        for i in (0, 1):
            term, skip = slot_contrast(s_slots[i], t_slots[1 - i], s_present[i], t_present[1 - i],
                                       self.predictor, self.contrast_temp)
            contrast, skipped = contrast + term, skipped + int(skip)

        if self.training:
            self.update_center(t_scores)
        w = self.group_loss_weight
        losses = {"group": w * group, "contrast": (1.0 - w) * contrast}
        logs = {"group": group.detach(), "contrast": contrast.detach(), "contrast_skipped": skipped}
        logs.update(slot_health(s_aligned, t_aligned, t_scores, s_present, t_present, boxes))
        return losses, logs

    @torch.no_grad()
    def update_center(self, teacher_scores):
        """c <- m * c + (1 - m) * mean of the raw teacher scores over all pixels, all processes.

        ``teacher_scores``: the per-view B x K x H x W maps (summed in the center's dtype, no
        concatenated or upcast copy).
        """
        k = self.center.shape[1]
        sums = sum(a.sum(dim=(0, 2, 3), dtype=self.center.dtype) for a in teacher_scores)
        pixels = sum(a.numel() // k for a in teacher_scores)
        total = all_reduce_sum(torch.cat([sums, sums.new_tensor([pixels])]))
        batch_center = (total[:k] / total[k]).view(1, k)
        self.center.mul_(self.center_momentum).add_(batch_center, alpha=1.0 - self.center_momentum)
