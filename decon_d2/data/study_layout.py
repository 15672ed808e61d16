"""Names, folders and labels of the learning-study data sets (under ``$DETECTRON2_DATASETS``).

Kept apart from the builders (``tools/build_data/study_sets/``), which import it: registering
the names (``study_sets.py``) then needs no building code on the training import path.
"""
from pathlib import Path

from .paths import datasets_root

UNLABELED = "decon_study_unlabeled"
SEG = {"train": "decon_study_seg_train", "val": "decon_study_seg_val"}
# Label k of decon_study_seg is CLASS_NAMES[k] (line k of its class_names.txt); 1.. are the
# Tux Paint stamp classes (``build_data/study_sets/sources.py`` maps each to its folders).
CLASS_NAMES = ("background", "bird", "mammal", "sea_animal", "insect", "fruit", "vegetable",
               "flower", "vehicle", "instrument", "tool")
IGNORE = 255  # where a pasted matte is partly transparent (``build_data/study_sets/compose.py``)
BUILD_COMMAND = "python -m tools.build_data study"


def unlabeled_dir() -> Path:
    return datasets_root() / "decon_study_unlabeled"


def seg_dir() -> Path:
    return datasets_root() / "decon_study_seg"


def seg_json(split: str) -> Path:
    return seg_dir() / "annotations" / f"{split}.json"
