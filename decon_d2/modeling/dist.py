"""Tensor collectives for the losses; each is the identity in a single process.

``detectron2.utils.comm`` decides the process layout (``get_world_size``/``get_rank``) but only
gathers picklable objects, so tensors go through ``torch.distributed`` directly. Nothing here
carries gradients: gathered keys and all-reduced counts and centers are constants of the loss.
"""
import torch
import torch.distributed as dist
from detectron2.utils import comm

__all__ = ["concat_all_gather", "all_reduce_sum"]


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
