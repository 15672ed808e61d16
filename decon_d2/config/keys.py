"""``add_decon_config(cfg)``: every key this project adds, one module per concern (listed in
``decon_d2/config/__init__.py``), and the node of every registered loss head
(``MODEL.DECON.<NODE>``, declared in the head's folder: ``decon_d2/head_specs.py``)."""

from ..head_specs import head_specs
from .datasets import add_dataset_keys
from .input import add_input_keys
from .model import add_model_keys
from .probe import add_probe_keys
from .segmentation import add_segmentation_keys
from .solver import add_solver_keys

__all__ = ["add_decon_config"]


def add_decon_config(cfg):
    """Add all decon-d2 keys (with defaults) to a Detectron2 ``CfgNode``, in place; returns it."""
    specs = head_specs()
    if not specs:  # only while ``decon_d2`` itself is being imported
        raise RuntimeError("no loss head is registered yet: import decon_d2 (its heads register "
                           "their config nodes) before building a config")
    for add in (add_input_keys, add_model_keys, add_solver_keys, add_dataset_keys,
                add_segmentation_keys,  # after add_model_keys (MODEL.DECON)
                add_probe_keys):
        add(cfg)
    for spec in specs:  # after add_model_keys (MODEL.DECON)
        spec.add_config(cfg)
    return cfg
