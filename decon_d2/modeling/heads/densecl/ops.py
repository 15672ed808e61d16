"""DenseCL's loss terms as pure functions (docs/method.md §2.3), one formula each.

Shapes: N query rows, D key dimension, K queue rows, B images, C feature channels, HW grid
cells. Loss maths run in at least fp32 with autocast off (``precision``), as SlotCon's do.
"""
import torch
import torch.nn.functional as F
from torch.utils.checkpoint import checkpoint

from ...precision import fp32, no_autocast

__all__ = ["info_nce", "dense_correspondence", "gather_positives", "enqueue_"]


def _info_nce_sum(q, k_pos, queue, temp):
    """Sum over rows of ``-log softmax([q.k+, q.queue_1, ..., q.queue_K] / temp)[0]``.

    Written as ``logaddexp(pos, logsumexp(neg)) - pos`` rather than a cross-entropy over the
    concatenated logits: the same number with one N x K tensor kept for backward, not three.
    """
    pos = (q * k_pos).sum(dim=1) / temp
    neg = (q / temp) @ queue.t()
    return (torch.logaddexp(pos, torch.logsumexp(neg, dim=1)) - pos).sum()


def info_nce(q, k_pos, queue, temp, chunk_rows=0):
    """MoCo's InfoNCE with a queue of negatives, mean over the N query rows.

    Args:
        q: N x D L2-normalised queries (gradient flows into them).
        k_pos: N x D L2-normalised positive keys (constants).
        queue: K x D L2-normalised negative keys (constants; pass a copy if the queue is
            updated in place before backward).
        temp: temperature.
        chunk_rows: > 0 computes the loss ``chunk_rows`` query rows at a time with activation
            checkpointing: the N x K logits are never all alive (recomputed per chunk in
            backward). Same value and gradients, one extra logits matmul.
    """
    n = q.shape[0]
    with no_autocast(q):
        q = fp32(q)
        k_pos, queue = k_pos.to(q.dtype), queue.to(q.dtype)
        if chunk_rows <= 0 or n <= chunk_rows or not torch.is_grad_enabled():
            return _info_nce_sum(q, k_pos, queue, temp) / n
        total = sum(
            checkpoint(_info_nce_sum, q[i:i + chunk_rows], k_pos[i:i + chunk_rows], queue, temp,
                       use_reentrant=False)
            for i in range(0, n, chunk_rows))
        return total / n


@torch.no_grad()
def dense_correspondence(fq, fk):
    """For each query cell, the key cell whose feature is most similar.

    Args:
        fq, fk: B x C x H x W (or B x C x HW) features of the query and key views (DenseCL: the
            backbone's res5, not the projected grids).
    Returns:
        B x HWq long tensor: ``argmax_j cos(fq[b, :, i], fk[b, :, j])``.
    """
    with no_autocast(fq):
        q = F.normalize(fp32(fq).flatten(2), dim=1)
        k = F.normalize(fp32(fk).flatten(2), dim=1).to(q.dtype)
        return torch.einsum("bci,bcj->bij", q, k).argmax(dim=2)


def gather_positives(k_grid, index):
    """``k_grid[b, :, index[b, i]]`` for every (b, i): B x D x HWk, B x HWq -> B x D x HWq."""
    return torch.gather(k_grid, 2, index.unsqueeze(1).expand(-1, k_grid.shape[1], -1))


@torch.no_grad()
def enqueue_(queue, start, keys):
    """Write ``keys`` (M x D, already gathered from every process) into the ring buffer ``queue``
    (K x D) at rows ``start, start + 1, ...`` modulo K, replacing the oldest keys; returns the
    next start. Key j of the stream lands in row ``(start + j) % K``; with M > K only the last K
    keys survive, as if written one by one. K need not divide M (MoCo asserts it does)."""
    k, m = queue.shape[0], keys.shape[0]
    kept = min(m, k)
    first = start + m - kept
    rows = (first + torch.arange(kept, device=queue.device)) % k
    queue.index_copy_(0, rows, keys[m - kept:].to(queue.dtype))
    return (start + m) % k
