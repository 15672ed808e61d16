"""``build_cfg``: the one way a config is made from a file and overrides (entry points, tools,
tests), with the declared data sets' command-line form applied."""
from detectron2.config import get_cfg

from .declared_opts import split_declared_opts
from .keys import add_decon_config

__all__ = ["build_cfg"]


def build_cfg(config_file: str = "", opts=()):
    """get_cfg -> add_decon_config -> merge file -> merge overrides -> freeze (no side effects).

    Overrides that declare a data set (``DATASETS.DECON.<KIND>.<name> VALUE``) are applied
    directly, as yacs' ``merge_from_list`` refuses new keys; every other pair goes through it."""
    cfg = get_cfg()
    add_decon_config(cfg)
    if config_file:
        cfg.merge_from_file(config_file)
    cfg.merge_from_list(split_declared_opts(cfg, opts))
    cfg.freeze()
    return cfg
