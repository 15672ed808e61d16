"""``setup(args)``: the config flow of every entry point (``train_net.py`` and the tests)."""

from detectron2.config import get_cfg
from detectron2.engine import default_setup
from detectron2.utils import comm
from detectron2.utils.logger import setup_logger

from decon_d2.config import add_decon_config
from decon_d2.config.declared_opts import split_declared_opts
from decon_d2.data import register_declared_datasets


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


def setup(args):
    """``build_cfg`` from the parsed arguments, the config's declared data sets registered (every
    process, before any catalog lookup), then Detectron2's ``default_setup`` (output folder,
    logging, environment report, ``config.yaml`` dump, seeding)."""
    cfg = build_cfg(args.config_file, args.opts)
    register_declared_datasets(cfg)
    default_setup(cfg, args)
    # Detectron2 configures its own loggers only; ours (schedule arithmetic, norm fallbacks,
    # NaN reports) go to the same console and log.txt.
    setup_logger(
        cfg.OUTPUT_DIR, distributed_rank=comm.get_rank(), name="decon_d2", abbrev_name="decon"
    )
    return cfg
