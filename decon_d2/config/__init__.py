"""``add_decon_config(cfg)``: every key this project adds to Detectron2's config, in one place.

One module per concern, each declaring its keys with a one-line comment:

- ``INPUT.DECON.*``     two-view augmentation of pre-training (``input.py``)
- ``MODEL.DECON.*``     the DeCon meta-architecture, decoder, heads and losses (``model.py``)
- ``SOLVER.DECON.*``, ``SOLVER.AMP.PRECISION``: optimiser, schedules, precision (``solver.py``)
- ``DATASETS.DECON.*``  limited-data fine-tuning, declared data sets (``datasets.py``; their
  command-line form: ``declared_opts.py``)
- ``MODEL.DECON.FCN.*``, ``MODEL.SEM_SEG_HEAD.FCN.*``, ``TEST.SLIDING_WINDOW.*``,
  ``SOLVER.POLY_LR_POWER``, ``MODEL.TRANSFER.*``: FCN decoder and segmentation (``segmentation.py``)
- ``MODEL.DECON.DENSECL.*`` and DenseCL's recipe switches: DenseCL / DeCon-DenseCL (``densecl.py``)
- ``TEST.DECON.*``      online probe and slot maps during pre-training (``probe.py``)

These modules import nothing from the rest of ``decon_d2``, so any module may import this one.
"""
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
