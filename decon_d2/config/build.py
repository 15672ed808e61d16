"""``build_cfg``: the one way a config is made from a file and overrides (entry points, tools,
tests, the converter's targets), with the declared data sets' command-line form applied; and
``find_pretrain_config``, the config a pre-training run wrote beside its checkpoints."""
import os
from typing import Optional

from detectron2.config import get_cfg

from .declared_opts import split_declared_opts
from .keys import add_decon_config

__all__ = ["build_cfg", "find_pretrain_config"]


def build_cfg(config_file: str = "", opts=(), *, new_allowed: bool = False):
    """get_cfg -> add_decon_config -> merge file -> merge overrides -> freeze (no side effects).

    Overrides that declare a data set (``DATASETS.DECON.<KIND>.<name> VALUE``) are applied
    directly, as yacs' ``merge_from_list`` refuses new keys; every other pair goes through it.
    ``new_allowed``: the file may hold keys this version does not declare (a config written by
    another version of the project, read only to rebuild its model)."""
    cfg = get_cfg()
    add_decon_config(cfg)
    if new_allowed:
        cfg.set_new_allowed(True)
    if config_file:
        cfg.merge_from_file(config_file)
    cfg.merge_from_list(split_declared_opts(cfg, opts))
    cfg.freeze()
    return cfg


def find_pretrain_config(checkpoint: str, explicit: Optional[str] = None):
    """The pre-training config of ``checkpoint``: ``explicit``, else ``config.yaml`` beside it
    (where Detectron2's ``default_setup`` writes it), frozen; None when there is none, or when it
    is not a DeCon pre-training config. A missing ``explicit`` file raises FileNotFoundError."""
    path = explicit or os.path.join(os.path.dirname(os.path.abspath(checkpoint)), "config.yaml")
    if not os.path.isfile(path):
        if explicit:
            raise FileNotFoundError(explicit)
        return None
    cfg = build_cfg(path, new_allowed=True)
    return cfg if cfg.MODEL.META_ARCHITECTURE == "DeCon" else None
