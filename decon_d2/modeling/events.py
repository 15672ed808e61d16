"""Log scalars to Detectron2's ``EventStorage`` when one is open, silently otherwise.

The model logs its unweighted loss parts itself (Detectron2's trainer only sums the returned
weighted losses); tests and scripts call ``forward`` outside a storage and must still work.
"""
from detectron2.utils.events import get_event_storage, has_event_storage

__all__ = ["put_scalars"]


def put_scalars(**kwargs):
    """``EventStorage.put_scalars`` if a storage is open; tensors are converted with ``float``."""
    if not has_event_storage():
        return
    get_event_storage().put_scalars(**{k: float(v) for k, v in kwargs.items()})
