"""Fine-tuning converted checkpoints: the trainer, pre-flight checks, limited-data subsets,
AP results."""
from .preflight import WEIGHTS_SENTINEL, FinetuneConfigError, check_finetune_setup
from .results import summarize_results, write_results
from .subset import subset_records
from .trainer import FinetuneTrainer
