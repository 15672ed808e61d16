"""The DenseCL loss head, one folder: the head (``head.py``), its neck (``neck.py``) and maths
(``ops.py``), its config node (``config.py``) and its spec (``spec.py``), which declares all the
library needs to know about it. Importing the package registers both."""
from . import spec  # noqa: F401  (registration in decon_d2.head_specs)
from .head import DenseCLHead

__all__ = ["DenseCLHead"]
