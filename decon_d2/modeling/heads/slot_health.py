"""Collapse and health signals of one SlotCon level, logged with its losses every step.

All are computed without gradient from maps the loss already has, on this process's share of
the batch (no communication):

- ``proto_entropy``: entropy (nats) of the teacher's prototype usage, i.e. of the histogram of
  the arg-max prototype over every pixel of both views. log K when all K are used equally,
  0 when one prototype takes every pixel (collapse).
- ``protos_used``: how many distinct prototypes win at least one pixel.
- ``slots_kept``: slots per image that survive the presence filter (present in the student view
  and in the other view's teacher), mean of the two directions: the slot-contrast queries.
- ``agreement``: fraction of overlap pixels where the student's arg-max prototype equals the
  teacher's of the other view (aligned maps, what the group loss pulls together); crops that do
  not overlap are left out. Trivially 1 after a collapse, so read it with the two above.
"""
import math

import torch

__all__ = ["slot_health"]


@torch.no_grad()
def slot_health(s_aligned, t_aligned, t_scores, s_present, t_present, boxes):
    """The four signals above as floats; arguments are per-view lists (two views)."""
    k = t_scores[0].shape[1]
    counts = sum(torch.bincount(a.argmax(1).flatten(), minlength=k) for a in t_scores)
    p = counts.double() / counts.sum()
    nz = p[p > 0]
    entropy = float(-(nz * nz.log()).sum())
    b = s_present[0].shape[0]
    kept = sum(float((s_present[i] & t_present[1 - i]).sum()) for i in (0, 1)) / (2 * b)
    agree, total = 0.0, 0.0
    for i in (0, 1):
        overlap = (boxes[i][:, 2] > boxes[i][:, 0]) & (boxes[i][:, 3] > boxes[i][:, 1])
        if overlap.any():
            same = s_aligned[i].argmax(1) == t_aligned[1 - i].argmax(1)  # B x H x W
            agree += float(same[overlap].sum())
            total += same[overlap].numel()
    return {
        "proto_entropy": entropy,
        "protos_used": float((counts > 0).sum()),
        "slots_kept": kept,
        "agreement": agree / total if total else math.nan,
    }
