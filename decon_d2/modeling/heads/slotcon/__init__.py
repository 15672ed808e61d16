"""The SlotCon loss head, one folder: the head (``head.py``) and its maths (``ops.py``,
``health.py``), its config node (``config.py``) and its spec (``spec.py``), which declares all
the library needs to know about it. Importing the package registers both."""
from . import spec  # noqa: F401  (registration in decon_d2.head_specs)
from .head import SlotConHead

__all__ = ["SlotConHead"]
