"""``add_decon_config(cfg)``: every key this project adds to Detectron2's config.

Keys are declared, each with a one-line comment, in one function per concern so that each lives
next to the code that reads it:
- ``INPUT.DECON.*``   two-view augmentation (``decon_d2/data/config.py``)
- ``MODEL.DECON.*``   the DeCon meta-architecture, heads and losses (``decon_d2/modeling/config.py``)
- ``SOLVER.DECON.*``, ``SOLVER.AMP.PRECISION``: optimiser, schedules, precision
  (``decon_d2/engine/config.py``)
- ``DATASETS.DECON.*``  limited-data fine-tuning (``decon_d2/finetune/config.py``)
"""
import importlib

_PARTS = (
    ("decon_d2.data.config", "add_decon_input_config"),
    ("decon_d2.modeling.config", "add_decon_model_config"),
    ("decon_d2.engine.config", "add_decon_engine_config"),
    ("decon_d2.finetune.config", "add_decon_finetune_config"),
)


def add_decon_config(cfg):
    """Add all decon-d2 keys (with defaults) to a Detectron2 ``CfgNode``, in place."""
    for module, func in _PARTS:
        getattr(importlib.import_module(module), func)(cfg)
    return cfg
