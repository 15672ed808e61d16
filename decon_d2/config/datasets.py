"""``add_dataset_keys(cfg)``: limited-data fine-tuning, and data sets declared in the config.

Declared data sets (``IMAGE_FOLDERS``, ``COCO_INSTANCES``, ``SEM_SEG``) are open nodes: a yaml adds
one named entry per data set, and ``setup()`` registers each under its name in Detectron2's
catalogs (``decon_d2/data/declared.py``), so ``DATASETS.TRAIN``/``TEST`` can name it. On the
command line a new entry is ``DATASETS.DECON.<KIND>.<name>[.<FIELD>] VALUE``
(``decon_d2/config/declared_opts.py``). Relative paths are looked up under
``$DETECTRON2_DATASETS`` first, then in the working directory.
"""
from detectron2.config import CfgNode as CN


def add_dataset_keys(cfg):
    """Declare every ``DATASETS.DECON.*`` key with its default."""
    cfg.DATASETS.DECON = CN()
    # Fraction of DATASETS.TRAIN's images used for fine-tuning, in (0, 1]; 1.0 = all. The subset
    # is deterministic (ranked by a hash of seed and file name): 1% is inside 10% for one seed.
    cfg.DATASETS.DECON.TRAIN_FRACTION = 1.0
    # Seed of that subset (vary it to average over several draws of the same fraction).
    cfg.DATASETS.DECON.TRAIN_FRACTION_SEED = 0
    # Image-only data sets (pre-training): `name: folder` or `name: [folder, ...]`, each folder
    # listed recursively (labels and sub-folder names ignored), concatenated in order.
    cfg.DATASETS.DECON.IMAGE_FOLDERS = CN(new_allowed=True)
    # COCO-format instance sets (fine-tuning, evaluation): `name: {JSON: file, IMAGES: folder}`;
    # polygon or RLE masks, any category ids (mapped to contiguous ones).
    cfg.DATASETS.DECON.COCO_INSTANCES = CN(new_allowed=True)
    # Semantic-segmentation sets: `name: {IMAGES: folder, LABELS: folder of single-channel PNGs
    # (class index per pixel, same relative name as the image), CLASSES: [names, in index
    # order], IGNORE_LABEL: value of unlabelled pixels (default 255)}`.
    cfg.DATASETS.DECON.SEM_SEG = CN(new_allowed=True)
    return cfg
