"""``setup(args)``: the config flow of every entry point (``train_net.py`` and the tests)."""

from detectron2.config import get_cfg
from detectron2.engine import default_setup
from detectron2.utils import comm
from detectron2.utils.logger import setup_logger

from decon_d2.config import add_decon_config


def build_cfg(config_file: str = "", opts=()):
    """get_cfg -> add_decon_config -> merge file -> merge overrides -> freeze (no side effects)."""
    cfg = get_cfg()
    add_decon_config(cfg)
    if config_file:
        cfg.merge_from_file(config_file)
    cfg.merge_from_list(list(opts))
    cfg.freeze()
    return cfg


def setup(args):
    """``build_cfg`` from the parsed arguments, then Detectron2's ``default_setup`` (output folder,
    logging, environment report, ``config.yaml`` dump, seeding)."""
    cfg = build_cfg(args.config_file, args.opts)
    default_setup(cfg, args)
    # Detectron2 configures its own loggers only; ours (schedule arithmetic, norm fallbacks,
    # NaN reports) go to the same console and log.txt.
    setup_logger(
        cfg.OUTPUT_DIR, distributed_rank=comm.get_rank(), name="decon_d2", abbrev_name="decon"
    )
    return cfg
