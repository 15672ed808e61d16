"""``add_decon_config(cfg)``: every key this project adds to Detectron2's config, in one place.

One module per concern, each declaring its keys with a one-line comment:

- ``INPUT.DECON.*``     two-view augmentation of pre-training (``input.py``)
- ``MODEL.DECON.*``     the DeCon meta-architecture, decoder, heads and losses (``model.py``)
- ``SOLVER.DECON.*``, ``SOLVER.AMP.PRECISION``: optimiser, schedules, precision (``solver.py``)
- ``DATASETS.DECON.*``  limited-data fine-tuning, declared data sets (``datasets.py``; their
  command-line form: ``declared_opts.py``)
- ``MODEL.DECON.FCN.*``, ``MODEL.SEM_SEG_HEAD.FCN.*``, ``TEST.SLIDING_WINDOW.*``,
  ``SOLVER.POLY_LR_POWER``, ``MODEL.TRANSFER.*``: FCN decoder and segmentation (``segmentation.py``)
- ``MODEL.DECON.<NODE>.*`` (``SLOTCON``, ``DENSECL``): each loss head's own node, declared in
  its folder (``decon_d2/modeling/heads/<head>/config.py``) and added through its registered spec
  (``decon_d2/head_specs.py``)
- ``TEST.DECON.*``      online probe and slot maps during pre-training (``probe.py``)

Beside the keys (``keys.py`` gathers them): ``build_cfg`` (``build.py``), the one way a config is
made from a file and overrides (and ``find_pretrain_config``, a run's own config), and
``explicit_keys.py``, which tells the keys a user set from the defaults. This package imports
nothing from the rest of ``decon_d2`` but the head catalogue (``head_specs.py``), so any module
may import it.
"""
from .build import build_cfg, find_pretrain_config
from .keys import add_decon_config

__all__ = ["add_decon_config", "build_cfg", "find_pretrain_config"]
