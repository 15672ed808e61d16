"""Training engine: the trainers, optimiser, schedules, hooks (see docs/engine.md)."""

from .base_trainer import DeConTrainerBase
from .initial_weights import InitialWeightsError, load_initial_weights
from .pretrain_trainer import PretrainTrainer
from .setup import setup
