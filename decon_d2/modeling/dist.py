"""Tensor collectives for the losses; each is the identity in a single process.

``detectron2.utils.comm`` decides the process layout (``get_world_size``/``get_rank``) but only
gathers picklable objects, so tensors go through ``torch.distributed`` directly. Nothing here
carries gradients: gathered keys, all-reduced counts and centers, and the teacher's shuffled
batch are constants of the loss.
"""
import torch
import torch.distributed as dist
from detectron2.utils import comm

__all__ = ["concat_all_gather", "all_reduce_sum", "batch_shuffle", "batch_unshuffle"]


@torch.no_grad()
def concat_all_gather(x):
    """Concatenate ``x`` (same shape on every process) along dim 0, in rank order."""
    if comm.get_world_size() == 1:
        return x
    out = [torch.empty_like(x) for _ in range(comm.get_world_size())]
    dist.all_gather(out, x.contiguous())
    return torch.cat(out, dim=0)


@torch.no_grad()
def all_reduce_sum(x):
    """Sum of ``x`` over processes (a new tensor; ``x`` is left unchanged)."""
    x = x.clone()
    if comm.get_world_size() > 1:
        dist.all_reduce(x)
    return x


@torch.no_grad()
def batch_shuffle(x):
    """MoCo's shuffle for BN: this process's share of the global batch in a random order.

    Every process draws a permutation of the global batch (same RNG use everywhere), rank 0's is
    broadcast, and process r takes rows ``perm[r*B:(r+1)*B]`` of the gathered batch. Returns
    ``(shuffled x, perm)``; :func:`batch_unshuffle` undoes it. One process: ``(x, identity)``.
    """
    gathered = concat_all_gather(x)
    perm = torch.randperm(gathered.shape[0]).to(x.device)
    if comm.get_world_size() > 1:
        dist.broadcast(perm, src=0)
    b = x.shape[0]
    return gathered[perm[comm.get_rank() * b:(comm.get_rank() + 1) * b]], perm


@torch.no_grad()
def batch_unshuffle(y, perm):
    """Rows of ``y`` (computed on :func:`batch_shuffle`'s output) back in this process's
    original order: global row ``perm[i]`` was computed at shuffled position i."""
    gathered = concat_all_gather(y)
    b = y.shape[0]
    inverse = torch.argsort(perm)
    return gathered[inverse[comm.get_rank() * b:(comm.get_rank() + 1) * b]]
