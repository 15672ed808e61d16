"""Names and folders of the embedded demo data sets (``$DETECTRON2_DATASETS/decon_demo``).

Kept apart from the builders (``tools/build_data/demo_sets/``), which import it: registering
the names (``demo_sets.py``) then needs no building code on the training import path.
"""
from pathlib import Path

from .paths import datasets_root

UNLABELED = "decon_demo_unlabeled"
COCO = "decon_demo_coco"
SEM_SEG = "decon_demo_sem_seg"
VOC = "decon_demo_voc"
VOC_SPLIT, VOC_YEAR = "trainval", 2007  # scored with the 11-point VOC07 AP50, as voc_2007_test
# Classes of decon_demo_sem_seg: background + the COCO categories, padded to the demo configs'
# NUM_CLASSES so that a build without Debian's labelme photos (fewer categories) still evaluates.
SEM_SEG_NUM_CLASSES = 21
SEM_SEG_IGNORE = 255
BUILD_COMMAND = "python -m tools.build_data demo"


def demo_root() -> Path:
    return datasets_root() / "decon_demo"


def unlabeled_dir() -> Path:
    return demo_root() / "unlabeled"


def coco_dir() -> Path:
    return demo_root() / "coco"


def coco_json() -> Path:
    return coco_dir() / "annotations" / "instances.json"


def coco_images() -> Path:
    return coco_dir() / "images"


def sem_seg_dir() -> Path:
    """Label PNGs only (``labels/<stem>.png``); the photos are those of ``coco_images()``."""
    return demo_root() / "sem_seg"


def voc_dir() -> Path:
    """The VOC-format tree of ``decon_demo_coco`` (``Annotations/``, ``ImageSets/Main/``,
    ``JPEGImages/``)."""
    return demo_root() / "voc"
