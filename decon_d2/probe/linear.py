"""The linear probe: a 1x1 classifier on frozen, standardised features, and its scores.

Logits are upsampled bilinearly to the label grid; the loss is cross-entropy with ignored
pixels left out. Scoring upsamples whole maps. Training evaluates the upsampled logits at
``points`` label pixels per image and epoch, drawn afresh each epoch (the exact values
``F.interpolate`` gives at those pixels, from their four neighbours; a 1x1 classifier commutes with
bilinear upsampling, so features are sampled first when that is cheaper): full-resolution
cross-entropy over every pixel and epoch would cost ~50x more for the same estimate. Training is
deterministic: zero-initialised weights, a seeded generator for the order and the points, Adam
with a cosine-decayed step for a fixed number of epochs.
"""
import math
from dataclasses import dataclass
from typing import Dict, Optional

import torch
import torch.nn.functional as F
from torch import nn

from .features import LevelFeatures
from .labels import IGNORE

__all__ = ["ProbeSettings", "train_linear", "confusion_matrix", "segmentation_scores",
           "bilinear_at", "sampled_logits"]


@dataclass(frozen=True)
class ProbeSettings:
    """Hyper-parameters of the probe (the same for every set of weights)."""

    epochs: int = 20
    lr: float = 1e-3
    batch_size: int = 8
    points: int = 1024
    seed: int = 0


def _logits(clf: nn.Module, feats: LevelFeatures, idx, size) -> torch.Tensor:
    return F.interpolate(clf(feats.batch(idx)), size=size, mode="bilinear", align_corners=False)


def bilinear_at(maps: torch.Tensor, rows: torch.Tensor, cols: torch.Tensor, size,
                idx=None) -> torch.Tensor:
    """Values at label pixels (``rows``/``cols``: B x P) of ``maps`` (N x C x h x w, images
    ``idx``, default all) upsampled to ``size`` as ``F.interpolate(mode="bilinear",
    align_corners=False)`` does (source coordinate ``(i + 0.5) * h / H - 0.5``, clamped at 0, the
    next neighbour clamped at the edge); B x P x C, float32 (float64 for float64 maps).
    Nothing is upsampled: the four neighbours are gathered as rows of a channels-last view.
    """
    n, c, h, w = maps.shape
    dtype = torch.float64 if maps.dtype == torch.float64 else torch.float32
    table = maps.permute(0, 2, 3, 1).reshape(n, h * w, c)  # a view when channels-last
    image = (torch.arange(n) if idx is None else torch.as_tensor(idx)).view(-1, 1)

    def source(i, n_in, n_out):
        s = ((i.double() + 0.5) * (n_in / n_out) - 0.5).clamp_min(0)
        i0 = s.floor().long().clamp(max=n_in - 1)
        return i0, (i0 + 1).clamp(max=n_in - 1), (s - i0).to(dtype).unsqueeze(-1)

    y0, y1, ly = source(rows, h, size[0])
    x0, x1, lx = source(cols, w, size[1])

    def at(y, x):
        return table[image, y * w + x].to(dtype)

    return ((at(y0, x0) * (1 - lx) + at(y0, x1) * lx) * (1 - ly)
            + (at(y1, x0) * (1 - lx) + at(y1, x1) * lx) * ly)


def sampled_logits(weight: torch.Tensor, bias: torch.Tensor, maps: torch.Tensor, idx, rows,
                   cols, size) -> torch.Tensor:
    """Upsampled logits of the 1x1 classifier (``weight`` K x C, ``bias`` K) on the images
    ``idx`` of ``maps`` at label pixels ``rows``/``cols``, B x K x P: equal to
    ``F.interpolate(conv(maps[idx]))`` there."""
    if maps.shape[2] * maps.shape[3] <= rows.shape[1]:  # small map: classify, then sample
        logits = F.conv2d(maps[idx].to(weight.dtype), weight[:, :, None, None], bias)
        return bilinear_at(logits, rows, cols, size).transpose(1, 2)
    # large map: sample the features, then the same affine map per point
    feats = bilinear_at(maps, rows, cols, size, idx).to(weight.dtype)
    return torch.einsum("kc,bpc->bkp", weight, feats) + bias.view(1, -1, 1)


def _on_cached(clf: nn.Conv2d, feats: LevelFeatures):
    """The classifier of standardised features as weights on the cached maps (standardisation
    folded in: it is per-channel affine, so it commutes with the bilinear sampling)."""
    w = clf.weight.flatten(1) / feats.std.view(1, -1)
    return w, clf.bias - w @ feats.mean


def train_linear(feats: LevelFeatures, labels: torch.Tensor, num_classes: int,
                 settings: ProbeSettings) -> nn.Conv2d:
    """Fit the 1x1 classifier on ``feats`` (standardisation fitted) against ``labels``
    (N x S x S)."""
    n, c = feats.maps.shape[:2]
    clf = nn.Conv2d(c, num_classes, 1)
    nn.init.zeros_(clf.weight)
    nn.init.zeros_(clf.bias)
    opt = torch.optim.Adam(clf.parameters(), lr=settings.lr)
    g = torch.Generator().manual_seed(settings.seed)
    steps = settings.epochs * math.ceil(n / settings.batch_size)
    sched = torch.optim.lr_scheduler.LambdaLR(
        opt, lambda s: 0.5 * (1 + math.cos(math.pi * min(s, steps) / steps)))
    size = tuple(labels.shape[-2:])
    for _ in range(settings.epochs):
        order = torch.randperm(n, generator=g)
        for start in range(0, n, settings.batch_size):
            idx = order[start:start + settings.batch_size]
            rows = torch.randint(0, size[0], (len(idx), settings.points), generator=g)
            cols = torch.randint(0, size[1], (len(idx), settings.points), generator=g)
            target = labels[idx].long()[torch.arange(len(idx))[:, None], rows, cols]
            if not (target != IGNORE).any():
                sched.step()
                continue
            w, b = _on_cached(clf, feats)
            logits = sampled_logits(w, b, feats.maps, idx, rows, cols, size)
            loss = F.cross_entropy(logits, target, ignore_index=IGNORE)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            sched.step()
    return clf.requires_grad_(False)


@torch.no_grad()
def confusion_matrix(clf: nn.Module, feats: LevelFeatures, labels: torch.Tensor, num_classes: int,
                     batch_size: int = 8) -> torch.Tensor:
    """K x K pixel counts, rows = true class, columns = predicted class (ignored pixels left
    out)."""
    cm = torch.zeros(num_classes * num_classes, dtype=torch.int64)
    size = tuple(labels.shape[-2:])
    for start in range(0, len(labels), batch_size):
        idx = torch.arange(start, min(start + batch_size, len(labels)))
        pred = _logits(clf, feats, idx, size).argmax(1).flatten()
        truth = labels[idx].long().flatten()
        keep = truth != IGNORE
        cm += torch.bincount(truth[keep] * num_classes + pred[keep], minlength=num_classes ** 2)
    return cm.view(num_classes, num_classes)


def segmentation_scores(cm: torch.Tensor, background: Optional[int], class_names=None) -> Dict:
    """Pixel accuracy, mIoU over classes with a non-empty union, and mIoU without background
    (equal to mIoU when the data set has no background class); values in percent."""
    cm = cm.double()
    tp = cm.diag()
    union = cm.sum(0) + cm.sum(1) - tp
    valid = union > 0
    iou = torch.where(valid, tp / union.clamp_min(1), torch.full_like(tp, float("nan")))
    fg = valid.clone()
    if background is not None:
        fg[background] = False
    total = cm.sum()

    def mean(mask):
        return float(iou[mask].mean() * 100) if mask.any() else float("nan")

    names = class_names or [str(i) for i in range(len(tp))]
    return {
        "pixel_acc": float(tp.sum() / total * 100) if total > 0 else float("nan"),
        "mIoU": mean(valid),
        "mIoU_fg": mean(fg),
        "iou": {n: (None if math.isnan(v) else round(v * 100, 4))
                for n, v in zip(names, iou.tolist())},
    }
