"""``DeCon``: the pre-training meta-architecture (student, frozen EMA teacher, loss heads).

One loss head on the encoder feature (res5) and one per decoder level in use, mixed as
L = a * L_enc + (1 - a) * mean over levels of L_dec (docs/method.md §2.2). The decoder and its
levels come from explicit config keys (``decon_d2/variants.py`` lists the named variants).

Each view goes separately through each network, so norm statistics are per view, as in the
authors' code. The EMA schedule lives in the engine: a hook calls ``momentum_update(m)`` once per
optimiser step with m a pure function of the iteration (the authors' code advances it twice
per step with a decoder: a bug not reproduced, docs/method.md D2). A head may ask for fewer
forwards (DenseCL: student on view 1, teacher on view 2 only) through ``student_views`` /
``teacher_views``; ``teacher_batch_shuffle`` is MoCo's shuffle-BN for the teacher backbone.
"""
import copy

import torch
from detectron2.config import configurable
from detectron2.modeling import META_ARCH_REGISTRY
from detectron2.utils import comm
from torch import nn

from decon_d2.variants import variant_name

from .backbone import build_decon_backbone
from .dist import batch_shuffle, batch_unshuffle
from .events import put_scalars
from .heads import build_ssl_head
from .decoder_spec import decoder_spec
from .teacher import copy_, ema_update_, paired_tensors

__all__ = ["DeCon"]


class _Branch(nn.Module):
    """A student or teacher: ``backbone`` (Detectron2 names) and ``heads`` (one per level)."""

    def __init__(self, backbone, heads):
        super().__init__()
        self.backbone = backbone
        self.heads = nn.ModuleDict(heads)


@META_ARCH_REGISTRY.register()
class DeCon(nn.Module):
    """DeCon / SlotCon pre-training model.

    Args:
        backbone: student backbone returning the encoder feature and the decoder levels.
        heads (dict[str, nn.Module]): student loss heads keyed by the feature they read.
        encoder_in_feature (str): key of the encoder head ("res5").
        encoder_loss_weight (float): a.
        teacher_dropout (bool): the teacher decoder keeps the skip dropout.
        pixel_mean, pixel_std: RGB normalisation of the uint8 views.
        variant (str): the variant name (``decon_d2.variants.variant_name``), for logs and checkpoints.
        teacher_batch_shuffle (bool): with several processes, run the teacher backbone on a
            batch shuffled across processes and unshuffle the features the heads read (MoCo's
            shuffle-BN, used by DenseCL with per-process BN).
    """

    @configurable
    def __init__(self, *, backbone, heads, encoder_in_feature, encoder_loss_weight,
                 teacher_dropout, pixel_mean, pixel_std, variant="decon_ml",
                 teacher_batch_shuffle=False):
        super().__init__()
        self.variant = variant
        self.encoder_in_feature = encoder_in_feature
        self.decoder_levels = [k for k in heads if k != encoder_in_feature]
        self.encoder_loss_weight = float(encoder_loss_weight)
        self.teacher_batch_shuffle = bool(teacher_batch_shuffle)
        # Views each network runs: the union of what the heads ask for (default both).
        self.views = {role: sorted({v for h in heads.values()
                                    for v in getattr(h, f"{role}_views", (0, 1))})
                      for role in ("student", "teacher")}
        self.student = _Branch(backbone, heads)
        self.teacher = _Branch(
            copy.deepcopy(backbone), {k: h.make_teacher() for k, h in heads.items()}
        ).requires_grad_(False)
        if not teacher_dropout and hasattr(self.teacher.backbone, "set_skip_dropout"):
            self.teacher.backbone.set_skip_dropout(0.0)
        self.register_buffer("pixel_mean", torch.tensor(pixel_mean).view(-1, 1, 1), False)
        self.register_buffer("pixel_std", torch.tensor(pixel_std).view(-1, 1, 1), False)
        self._pairs = None

    @classmethod
    def from_config(cls, cfg):
        d = cfg.MODEL.DECON
        spec = decoder_spec(d)
        levels, a, p = spec.levels, spec.encoder_loss_weight, spec.skip_dropout
        backbone = build_decon_backbone(cfg, out_levels=list(levels), skip_dropout=p,
                                        decoder_type=spec.decoder_type)
        shapes = backbone.output_shape()
        enc = d.ENCODER_IN_FEATURE
        if enc not in shapes:
            raise ValueError(f"MODEL.DECON.ENCODER_IN_FEATURE {enc!r} is not a backbone output "
                             f"({sorted(shapes)}); add it to MODEL.RESNETS.OUT_FEATURES.")
        heads = {}
        if a > 0:
            heads[enc] = build_ssl_head(cfg, shapes[enc].channels, is_decoder=False)
        for level in levels:
            heads[level] = build_ssl_head(cfg, shapes[level].channels, is_decoder=True)
        return {
            "backbone": backbone,
            "heads": heads,
            "encoder_in_feature": enc,
            "encoder_loss_weight": a,
            "teacher_dropout": d.TEACHER_DROPOUT,
            "pixel_mean": cfg.MODEL.PIXEL_MEAN,
            "pixel_std": cfg.MODEL.PIXEL_STD,
            "variant": variant_name(cfg.MODEL.DECON.HEAD.NAME, spec.decoder_type, levels),
            "teacher_batch_shuffle": d.TEACHER_BATCH_SHUFFLE,
        }

    @property
    def device(self):
        return self.pixel_mean.device

    @property
    def export_branch(self):
        """The network the converter exports by default: "teacher" (SlotCon/DeCon, D5) or
        "student" (DenseCL/MoCo), as the heads declare (docs/method.md §4.2)."""
        head = next(iter(self.student.heads.values()))
        return getattr(head, "export_branch", "teacher")

    def _apply(self, fn, *args, **kwargs):
        self._pairs = None  # parameters may be replaced by .to()/.half(): re-pair lazily
        return super()._apply(fn, *args, **kwargs)

    def preprocess(self, batched_inputs):
        """Normalised view tensors, overlap boxes and flip flags, per view, on the model device
        (``([B x 3 x H x W] * 2, [B x 4] * 2, [B] * 2)``)."""
        views, boxes, flips = [], [], []
        for v in ("1", "2"):
            x = torch.stack([s["view" + v] for s in batched_inputs]).to(self.device)
            views.append((x.to(self.pixel_mean.dtype) - self.pixel_mean) / self.pixel_std)
            boxes.append(torch.stack([torch.as_tensor(s["box" + v]) for s in batched_inputs])
                         .to(self.device, self.pixel_mean.dtype))
            flips.append(torch.tensor([bool(s["flip" + v]) for s in batched_inputs],
                                      device=self.device))
        return views, boxes, flips

    def forward(self, batched_inputs):
        """Weighted losses ``loss_{enc,dec}_{group,contrast}`` summing to the total loss.

        Unweighted parts go to EventStorage as ``decon/<feature>_<part>``. In eval mode the same
        losses are computed with running norm statistics and the centers are not updated.
        """
        views, boxes, flips = self.preprocess(batched_inputs)
        s_feats = [self.student.backbone(x) if i in self.views["student"] else None
                   for i, x in enumerate(views)]
        with torch.no_grad():
            t_feats = [self._teacher_features(x) if i in self.views["teacher"] else None
                       for i, x in enumerate(views)]

        losses, logs = {}, {}
        a, n_dec = self.encoder_loss_weight, max(len(self.decoder_levels), 1)
        for name, head in self.student.heads.items():
            is_enc = name == self.encoder_in_feature
            weight, prefix = (a, "enc") if is_enc else ((1.0 - a) / n_dec, "dec")
            parts, log = head([None if f is None else f[name] for f in s_feats],
                              [None if f is None else f[name] for f in t_feats],
                              self.teacher.heads[name], boxes, flips)
            for k, v in parts.items():
                key = f"loss_{prefix}_{k}"
                losses[key] = losses.get(key, 0.0) + weight * v
            logs.update({f"decon/{name}_{k}": v for k, v in log.items()})
        skipped = [v for k, v in logs.items() if k.endswith("_contrast_skipped")]
        if skipped:  # SlotCon heads (docs/model.md, decision 5)
            logs["decon/contrast_skipped"] = sum(skipped)
        put_scalars(**logs)
        return losses

    def _teacher_features(self, x):
        """Teacher backbone features of one view (shuffle-BN across processes when enabled)."""
        if not self.teacher_batch_shuffle or comm.get_world_size() == 1:
            return self.teacher.backbone(x)
        shuffled, order = batch_shuffle(x)
        feats = self.teacher.backbone(shuffled)
        return {k: batch_unshuffle(feats[k], order) for k in self.student.heads}

    def ema_pairs(self):
        """(teacher tensors, student tensors): the twin parameters the EMA moves, built once."""
        if self._pairs is None:
            self._pairs = paired_tensors(self.teacher, self.student)
        return self._pairs

    @torch.no_grad()
    def momentum_update(self, m):
        """teacher <- m * teacher + (1 - m) * student over all twin parameters (fused ops)."""
        ema_update_(*self.ema_pairs(), float(m))

    @torch.no_grad()
    def copy_student_to_teacher(self):
        """Exact copy of the student's twin parameters and buffers (norm statistics) to the
        teacher: the starting point of a fresh run."""
        copy_(*self.ema_pairs())
        copy_(*paired_tensors(self.teacher, self.student, kind="buffers"))
