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
- ``agreement_chance``: the agreement two independent assignments with the same usage would
  have on those pixels (sum over prototypes of student share x teacher share); with a few
  prototypes in use it is far above 1 / K (usage entropy 1.61 gives about 0.2).
- ``agreement_excess``: ``agreement - agreement_chance``, what the grouping agrees beyond chance.

Histograms are sums scattered into K bins (``scatter_add_``), not ``bincount``, whose output
size depends on the values: a GPU sync each (docs/gpu.md, "Host syncs").
"""
import math

import torch

__all__ = ["slot_health", "NAMES"]

NAMES = ("proto_entropy", "protos_used", "slots_kept", "agreement", "agreement_chance",
         "agreement_excess")


def _hist(index, k, weights=None):
    """K-bin histogram of ``index`` (any shape), optionally weighted, in float64."""
    flat = index.flatten()
    w = torch.ones_like(flat, dtype=torch.float64) if weights is None else weights.flatten()
    return torch.zeros(k, dtype=torch.float64, device=flat.device).scatter_add_(0, flat, w)


@torch.no_grad()
def slot_health(s_aligned, t_aligned, t_scores, s_present, t_present, boxes):
    """The signals above as floats; arguments are per-view lists (two views). One host
    transfer at the end (a GPU step is not synchronised once per signal)."""
    k = t_scores[0].shape[1]
    counts = sum(_hist(a.argmax(1), k) for a in t_scores)
    p = counts / counts.sum()
    entropy = -torch.where(p > 0, p * p.log(), torch.zeros_like(p)).sum()
    b = s_present[0].shape[0]
    kept = sum((s_present[i] & t_present[1 - i]).sum() for i in (0, 1)).double() / (2 * b)
    agree = torch.zeros((), dtype=torch.float64, device=counts.device)
    total, chance = torch.zeros_like(agree), torch.zeros_like(agree)
    for i in (0, 1):
        overlap = (boxes[i][:, 2] > boxes[i][:, 0]) & (boxes[i][:, 3] > boxes[i][:, 1])
        s_arg, t_arg = s_aligned[i].argmax(1), t_aligned[1 - i].argmax(1)  # B x H x W
        w = overlap.view(-1, 1, 1).expand_as(s_arg).double()
        agree += ((s_arg == t_arg).double() * w).sum()
        pixels = w.sum()
        hs, ht = _hist(s_arg, k, w), _hist(t_arg, k, w)
        chance += (hs * ht).sum() / pixels.clamp_min(1)  # = pixels x sum_k (hs/n)(ht/n)
        total += pixels
    nan = torch.full_like(agree, math.nan)
    agreement = torch.where(total > 0, agree / total.clamp_min(1), nan)
    by_chance = torch.where(total > 0, chance / total.clamp_min(1), nan)
    values = torch.stack([entropy, (counts > 0).sum().double(), kept, agreement, by_chance,
                          agreement - by_chance])
    return dict(zip(NAMES, values.tolist()))
