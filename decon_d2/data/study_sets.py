"""Registration of the learning-study data sets (built by ``python -m tools.build_data study``).

- ``decon_study_unlabeled``: real photos, image-only records ``{"file_name", "image_id"}``, as
  ``decon_demo_unlabeled`` (pre-training).
- ``decon_study_seg_train`` / ``decon_study_seg_val``: semantic segmentation records as
  Detectron2's ``load_sem_seg`` gives them (``file_name``, ``sem_seg_file_name``, ``height``,
  ``width``, ``image_id``) plus the pasted ``objects``; metadata ``stuff_classes``,
  ``ignore_label=255``, ``evaluator_type="sem_seg"``, so ``SemSegEvaluator`` works on them.

``decon_d2.data`` registers them on import (nothing is read until a data set is loaded; a set
not built yet is an error naming the builder, ``tools/build_data/study_sets/``). Calling
``register_study_datasets()`` twice is harmless (names already registered are left alone).
"""
import json
from functools import partial
from pathlib import Path
from typing import List

from detectron2.data import DatasetCatalog, MetadataCatalog

from . import study_layout as layout
from .built_sets import require_built
from .image_folder import register_image_folder

UNLABELED, SEG = layout.UNLABELED, layout.SEG
HINT = (f"run `{layout.BUILD_COMMAND}` "
        "(needs `pip install --no-deps -r requirements-study.txt`)")


def _built(folder: Path, name: str) -> Path:
    return require_built(folder, name, layout.BUILD_COMMAND)


def load_study_seg(split: str) -> List[dict]:
    """Records of one split, with absolute paths."""
    root = _built(layout.seg_dir(), SEG[split])
    records = json.loads(layout.seg_json(split).read_text())
    for r in records:
        r["file_name"] = str(root / r["file_name"])
        r["sem_seg_file_name"] = str(root / r["sem_seg_file_name"])
    return records


def register_study_datasets() -> None:
    registered = set(DatasetCatalog.list())
    if UNLABELED not in registered:
        register_image_folder(UNLABELED, layout.unlabeled_dir, hint=HINT,
                              prepare=lambda: _built(layout.unlabeled_dir(), UNLABELED))
    for split, name in SEG.items():
        if name in registered:
            continue
        DatasetCatalog.register(name, partial(load_study_seg, split))
        # Paths are fixed at registration time, as for Detectron2's builtin data sets.
        MetadataCatalog.get(name).set(
            stuff_classes=list(layout.CLASS_NAMES), ignore_label=layout.IGNORE,
            evaluator_type="sem_seg",
            image_root=str(layout.seg_dir() / "images" / split),
            sem_seg_root=str(layout.seg_dir() / "labels" / split),
        )
