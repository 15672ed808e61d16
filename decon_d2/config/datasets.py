"""``add_dataset_keys(cfg)``: keys of detector fine-tuning (limited-data protocol)."""
from detectron2.config import CfgNode as CN


def add_dataset_keys(cfg):
    """Declare every ``DATASETS.DECON.*`` key with its default."""
    cfg.DATASETS.DECON = CN()
    # Fraction of DATASETS.TRAIN's images used for fine-tuning, in (0, 1]; 1.0 = all. The subset
    # is deterministic (ranked by a hash of seed and file name): 1% is inside 10% for one seed.
    cfg.DATASETS.DECON.TRAIN_FRACTION = 1.0
    # Seed of that subset (vary it to average over several draws of the same fraction).
    cfg.DATASETS.DECON.TRAIN_FRACTION_SEED = 0
    return cfg
