"""``setup(args)``: the config flow of every entry point (``train_net.py`` and the tests)."""

from detectron2.engine import default_setup
from detectron2.utils import comm
from detectron2.utils.logger import setup_logger

from decon_d2.config import build_cfg
from decon_d2.data import register_declared_datasets
from decon_d2.engine.gpu_settings import apply_gpu_settings


def setup(args):
    """``build_cfg`` from the parsed arguments, the config's declared data sets registered (every
    process, before any catalog lookup), then Detectron2's ``default_setup`` (output folder,
    logging, environment report, ``config.yaml`` dump, seeding, ``CUDNN_BENCHMARK``), then the
    TF32 switches (``apply_gpu_settings``)."""
    cfg = build_cfg(args.config_file, args.opts)
    register_declared_datasets(cfg)
    default_setup(cfg, args)
    # Detectron2 configures its own loggers only; ours (schedule arithmetic, norm fallbacks,
    # NaN reports) go to the same console and log.txt.
    setup_logger(
        cfg.OUTPUT_DIR, distributed_rank=comm.get_rank(), name="decon_d2", abbrev_name="decon"
    )
    apply_gpu_settings(cfg)
    return cfg
