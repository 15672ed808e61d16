"""Pre-training engine: trainer, optimiser, schedules, hooks (see docs/engine.md)."""

from .config import add_decon_engine_config
from .setup import build_cfg, setup
from .trainer import Trainer
