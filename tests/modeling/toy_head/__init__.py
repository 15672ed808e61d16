"""``ToyHead``: a third loss head declared entirely in this folder, the proof that a head is one
folder (``tests/modeling/test_third_head.py``). Importing the package registers it in
``SSL_HEAD_REGISTRY`` (``head.py``) and its spec in ``decon_d2.head_specs`` (``spec.py``)."""
from .head import ToyHead
from .spec import SPEC

__all__ = ["SPEC", "ToyHead"]
