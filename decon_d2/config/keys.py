"""``add_decon_config(cfg)``: every key this project adds, one module per concern (listed in
``decon_d2/config/__init__.py``)."""

from .datasets import add_dataset_keys
from .densecl import add_densecl_keys
from .input import add_input_keys
from .model import add_model_keys
from .probe import add_probe_keys
from .segmentation import add_segmentation_keys
from .solver import add_solver_keys

__all__ = ["add_decon_config"]


def add_decon_config(cfg):
    """Add all decon-d2 keys (with defaults) to a Detectron2 ``CfgNode``, in place; returns it."""
    for add in (add_input_keys, add_model_keys, add_solver_keys, add_dataset_keys,
                add_segmentation_keys,  # after add_model_keys (MODEL.DECON)
                add_densecl_keys, add_probe_keys):
        add(cfg)
    return cfg
