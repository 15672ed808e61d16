"""SlotCon's building blocks as pure functions (docs/method.md §1.4, §2.1), one formula each.

Shapes: B images, K prototypes, D channels, H x W map. Loss maths run in at least fp32
(``_fp32``), so AMP-produced half tensors are safe.
"""
import torch
import torch.nn.functional as F
from detectron2.utils import comm
from torchvision.ops import roi_align

from ...dist import all_reduce_sum, concat_all_gather
from ...precision import fp32 as _fp32
from ...precision import no_autocast as _no_autocast

__all__ = [
    "semantic_grouping",
    "align_scores",
    "self_distillation",
    "presence",
    "slot_contrast",
]


def semantic_grouping(z, prototypes, temp, eps=1e-6):
    """Soft-assign pixels to prototypes and pool them into slots.

    Args:
        z: projected map, B x D x H x W.
        prototypes: K x D (un-normalised embedding weights).
        temp: attention temperature (SlotCon uses the teacher temperature).
    Returns:
        slots B x K x D (attention-weighted means of the un-normalised ``z``), and
        scores B x K x H x W (cosine similarities, the input of both losses).
    """
    with _no_autocast(z):
        z = _fp32(z)
        protos = F.normalize(_fp32(prototypes), dim=1)
        scores = torch.einsum("kd,bdhw->bkhw", protos, F.normalize(z, dim=1))
        attn = torch.softmax(scores / temp, dim=1) + eps
        attn = attn / attn.sum(dim=(2, 3), keepdim=True)
        slots = torch.einsum("bdhw,bkhw->bkd", z, attn)
    return slots, scores


def align_scores(scores, boxes, flips):
    """Crop each map to the views' overlap, resize back to H x W, and undo the view's flip.

    Args:
        scores: B x K x H x W.
        boxes: B x 4 overlap boxes (x1, y1, x2, y2) normalised to this view, after its flip.
            A non-overlap (x2 < x1) yields an all-zero map.
        flips: B bools (this view was mirrored).
    """
    scores = _fp32(scores)
    b, _, h, w = scores.shape
    scale = boxes.new_tensor([w, h, w, h])
    rois = torch.cat([torch.arange(b, device=boxes.device, dtype=boxes.dtype)[:, None],
                      boxes * scale], dim=1)
    aligned = roi_align(scores, rois.to(scores.dtype), (h, w), aligned=True)
    flips = flips.to(device=aligned.device, dtype=torch.bool).view(b, 1, 1, 1)
    return torch.where(flips, aligned.flip(-1), aligned)


def self_distillation(student, teacher, center, student_temp, teacher_temp):
    """Cross-entropy from centred, sharpened teacher scores to student scores, mean over pixels.

    ``student``/``teacher``: aligned B x K x H x W maps; ``center``: 1 x K. The teacher side is a
    constant (no gradient). Softmaxes run over dim 1 in place of SlotCon's flatten to
    (B*H*W) x K: the same numbers without the two permuted copies.
    """
    with torch.no_grad():
        center = center.view(1, -1, 1, 1)
        target = torch.softmax((_fp32(teacher) - center) / teacher_temp, dim=1)
    log_p = torch.log_softmax(_fp32(student) / student_temp, dim=1)
    return -(target * log_p).sum(dim=1).mean()


@torch.no_grad()
def presence(scores):
    """B x K bools: prototype k is the arg-max at one pixel or more of image b."""
    b, k = scores.shape[:2]
    winners = scores.flatten(2).argmax(dim=1)  # B x HW
    present = torch.zeros(b, k, dtype=torch.bool, device=scores.device)
    present.scatter_(1, winners, True)
    return present


def slot_contrast(q_slots, k_slots, q_present, k_present, predictor, temp):
    """InfoNCE from predicted student slots to teacher slots of the global batch.

    Queries: student slots whose prototype is present in both the student and the teacher view
    (the predictor's norm sees only these rows). Keys: L2-normalised teacher slots of every
    process whose prototype is present in the teacher view. The positive of a query is the key
    of the same (image, prototype). Cross-entropy scaled by ``2 * temp``.

    Normalised by the *global* number of queries times the world size, so the mean over
    processes (what DDP's gradient averaging optimises) equals the loss of one process holding
    the whole batch. With fewer than two queries in the whole batch the term is skipped: the
    predictor's BatchNorm cannot run on one row and the mean over zero rows is NaN. The skip
    returns an exact zero that stays connected to the predictor and the slots (every parameter
    still gets a gradient, as DDP requires), identically on every process.

    Returns:
        (loss, skipped): a scalar tensor and a bool.
    """
    b, k, d = q_slots.shape
    sel = (q_present & k_present).flatten()
    n_global = int(all_reduce_sum(sel.sum().to(torch.float64)).item())
    q = q_slots.reshape(b * k, d)
    if n_global < 2:
        zero = sum(p.sum() for p in predictor.parameters()) * 0.0 + q.sum() * 0.0
        return zero, True
    with torch.no_grad():
        keys_all = concat_all_gather(F.normalize(_fp32(k_slots).reshape(b * k, d), dim=1))
        mask_all = concat_all_gather(k_present.flatten())
        keys = keys_all[mask_all]
        # Index of each kept key in the filtered list; rank r's rows start at r * B * K.
        offset = comm.get_rank() * b * k
        idx = sel.nonzero().squeeze(1)
        labels = mask_all.long().cumsum(0)[idx + offset] - 1
    # Rows by ``idx``, not by the mask again: one data-dependent shape (a GPU sync) fewer
    # (docs/gpu.md, "Host syncs"). The MLP itself may run under autocast.
    pred = predictor(q[idx])
    with _no_autocast(pred):
        logits = F.normalize(_fp32(pred), dim=1) @ keys.t() / temp
        ce = F.cross_entropy(logits, labels, reduction="sum")
    return ce * (2 * temp) * comm.get_world_size() / n_global, False
