"""Fine-tuning converted checkpoints: the trainers (detection, semantic segmentation),
pre-flight checks, limited-data subsets, AP / mIoU results."""
from .preflight import WEIGHTS_SENTINEL, FinetuneConfigError, check_finetune_setup
from .results import summarize_results, write_results
from .subset import subset_records
from .semseg_trainer import SemSegTrainer
from .trainer import FinetuneTrainer
