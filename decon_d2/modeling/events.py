"""Log scalars to Detectron2's ``EventStorage`` when one is open, silently otherwise.

The model logs its unweighted loss parts itself (Detectron2's trainer only sums the returned
weighted losses); tests and scripts call ``forward`` outside a storage and must still work.
"""
import torch
from detectron2.utils.events import get_event_storage, has_event_storage

__all__ = ["put_scalars"]


def put_scalars(**kwargs):
    """``EventStorage.put_scalars`` if a storage is open. Tensor values are read in one copy to
    the host (one GPU sync per call, not one per value: docs/gpu.md, "Host syncs")."""
    if not has_event_storage():
        return
    tensors = [k for k, v in kwargs.items() if torch.is_tensor(v)]
    values = {k: float(v) for k, v in kwargs.items() if k not in tensors}
    if tensors:
        read = torch.stack([kwargs[k].detach().double().reshape(()) for k in tensors]).tolist()
        values.update(zip(tensors, read))
    get_event_storage().put_scalars(**{k: values[k] for k in kwargs})
