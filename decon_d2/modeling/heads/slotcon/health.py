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
    """The four signals above as floats; arguments are per-view lists (two views). One host
    transfer at the end (a GPU step is not synchronised once per signal)."""
    k = t_scores[0].shape[1]
    counts = sum(torch.bincount(a.argmax(1).flatten(), minlength=k) for a in t_scores)
    p = counts.double() / counts.sum()
    entropy = -torch.where(p > 0, p * p.log(), torch.zeros_like(p)).sum()
    b = s_present[0].shape[0]
    kept = sum((s_present[i] & t_present[1 - i]).sum() for i in (0, 1)).double() / (2 * b)
    agree = torch.zeros((), dtype=torch.float64, device=counts.device)
    total = torch.zeros_like(agree)
    for i in (0, 1):
        overlap = (boxes[i][:, 2] > boxes[i][:, 0]) & (boxes[i][:, 3] > boxes[i][:, 1])
        same = s_aligned[i].argmax(1) == t_aligned[1 - i].argmax(1)  # B x H x W
        agree += (same & overlap.view(-1, 1, 1)).sum()
        total += overlap.sum() * same[0].numel()
    agreement = torch.where(total > 0, agree / total.clamp_min(1), torch.full_like(agree, math.nan))
    values = torch.stack([entropy, (counts > 0).sum().double(), kept, agreement])
    return dict(zip(("proto_entropy", "protos_used", "slots_kept", "agreement"), values.tolist()))
