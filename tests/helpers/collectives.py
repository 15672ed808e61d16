"""Record every collective a process calls through ``torch.distributed`` (op, dtype, shape).

Ranks that call different collectives, or the same ones with tensors of different dtypes or
sizes, hang or exchange garbage under NCCL; gloo on CPU is more forgiving or fails differently.
The multi-process tests record each rank's sequence and assert that all ranks called the same
ones in the same order (docs/gpu.md, "Collectives"). Python-level calls only: DDP's gradient
buckets are reduced in C++ and are not seen here.
"""
import contextlib

import torch
import torch.distributed as dist

__all__ = ["record_collectives", "assert_same_collectives"]

OPS = ("all_reduce", "all_gather", "all_gather_into_tensor", "broadcast", "reduce_scatter_tensor",
       "all_to_all_single", "reduce", "gather", "scatter", "all_gather_object", "gather_object",
       "broadcast_object_list", "barrier")


def _describe(value):
    if torch.is_tensor(value):
        return (str(value.dtype), tuple(value.shape))
    if isinstance(value, (list, tuple)) and value and all(torch.is_tensor(v) for v in value):
        return tuple(_describe(v) for v in value)
    return None


@contextlib.contextmanager
def record_collectives():
    """Patch ``torch.distributed``'s collectives for the body; yields the list of
    ``(op, description of the tensor arguments)`` it fills."""
    calls = []
    originals = {name: getattr(dist, name) for name in OPS}

    def wrap(name, fn):
        def recorded(*args, **kwargs):
            tensors = [d for d in map(_describe, (*args, *kwargs.values())) if d is not None]
            calls.append((name, tuple(tensors)))
            return fn(*args, **kwargs)
        return recorded

    for name, fn in originals.items():
        setattr(dist, name, wrap(name, fn))
    try:
        yield calls
    finally:
        for name, fn in originals.items():
            setattr(dist, name, fn)


def assert_same_collectives(per_rank):
    """``per_rank``: one recorded list per rank; they must be equal and not empty."""
    first = per_rank[0]
    assert first, "no collective was recorded"
    for rank, calls in enumerate(per_rank[1:], start=1):
        for i, (a, b) in enumerate(zip(first, calls)):
            assert a == b, f"collective {i} differs: rank 0 {a}, rank {rank} {b}"
        assert len(calls) == len(first), (
            f"rank 0 called {len(first)} collectives, rank {rank} {len(calls)}")
