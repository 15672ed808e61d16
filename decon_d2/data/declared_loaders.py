"""Loaders of the declared COCO-instance and semantic-segmentation kinds, with errors that name the
config key, the path and the fix (``declared.py`` registers them).

COCO: Detectron2's ``load_coco_json`` (polygon and RLE masks; category ids of any values mapped
to contiguous ones, recorded in ``thing_dataset_id_to_contiguous_id``), after checking that the
json and the image folder exist and before returning, that every image it names is on disk.

Semantic segmentation: images under ``IMAGES`` (recursive, any image extension) paired by
relative name with ``LABELS/<same relative path>.png``. Detectron2's ``load_sem_seg`` needs one
image extension and drops unpaired files with a warning; here a missing label is an error. One
label file is opened to catch the two silent failures of Detectron2's reader
(``read_image(..., "L")``): a palette ("P") or colour PNG is converted to grey levels, not
class indices, and a value outside the classes trains on garbage.
"""
import os
from pathlib import Path
from typing import List, Sequence

import numpy as np
from detectron2.data.datasets import load_coco_json
from PIL import Image

from .image_folder import DatasetNotFoundError, list_images
from .paths import lookup_note

_SHOWN = 5


def _first(names: Sequence[str]) -> str:
    more = f", ... (+{len(names) - _SHOWN} more)" if len(names) > _SHOWN else ""
    return ", ".join(names[:_SHOWN]) + more


def _need(path: Path, is_dir: bool, key: str, written: str) -> None:
    if (path.is_dir() if is_dir else path.is_file()):
        return
    what = "folder" if is_dir else "file"
    raise DatasetNotFoundError(f"{key} = {written!r}: {what} not found; {lookup_note(written)}")


def load_coco_instances(name: str, key: str, json_written: str, json_file: Path,
                        images_written: str, image_root: Path) -> List[dict]:
    """Records of a COCO instances json; every image it names must exist under ``image_root``."""
    _need(json_file, False, f"{key}.JSON", json_written)
    _need(image_root, True, f"{key}.IMAGES", images_written)
    records = load_coco_json(str(json_file), str(image_root), name)
    if not records:
        raise DatasetNotFoundError(f"{key}: {json_file} lists no images")
    missing = [os.path.relpath(r["file_name"], image_root) for r in records
               if not os.path.isfile(r["file_name"])]
    if missing:
        raise DatasetNotFoundError(
            f"{key}: {len(missing)} of {len(records)} images named in {json_file} are missing "
            f"under {image_root.resolve()}: {_first(missing)}. Check {key}.IMAGES (the folder the "
            "json's file_name entries are relative to)")
    return records


def _check_label(path: str, key: str, classes: Sequence[str], ignore: int) -> None:
    with Image.open(path) as im:
        mode = im.mode
        values = np.unique(np.asarray(im)) if mode == "L" else None
    if mode != "L":
        raise ValueError(
            f"{key}.LABELS: {path} is a {mode!r} PNG; labels must be single-channel 8-bit ('L') "
            "images holding the class index of each pixel. Detectron2 reads labels with "
            "convert('L'), which turns palette ('P') and colour images into grey levels, not "
            "class indices: save np.asarray(label) as an 'L' PNG instead")
    bad = [int(v) for v in values if v >= len(classes) and v != ignore]
    if bad:
        raise ValueError(
            f"{key}: {path} holds label value(s) {bad[:10]} outside the {len(classes)} classes "
            f"(0..{len(classes) - 1}) and IGNORE_LABEL {ignore}: fix {key}.CLASSES or "
            f"{key}.IGNORE_LABEL")


def load_sem_seg_folder(key: str, images_written: str, image_root: Path,
                        labels_written: str, label_root: Path, classes: Sequence[str],
                        ignore: int) -> List[dict]:
    """``{"file_name", "sem_seg_file_name", "image_id"}`` records of an image/label folder pair."""
    _need(image_root, True, f"{key}.IMAGES", images_written)
    _need(label_root, True, f"{key}.LABELS", labels_written)
    images = list_images(image_root)
    if not images:
        raise DatasetNotFoundError(f"{key}.IMAGES: no images found under {image_root.resolve()}")
    records, missing = [], []
    for i, image in enumerate(images):
        rel = Path(os.path.relpath(image, image_root)).with_suffix(".png")
        label = label_root / rel
        if not label.is_file():
            missing.append(str(rel))
            continue
        records.append({"file_name": image, "sem_seg_file_name": str(label), "image_id": i})
    if missing:
        raise DatasetNotFoundError(
            f"{key}: {len(missing)} of {len(images)} images have no label PNG under "
            f"{label_root.resolve()} (expected the image's relative path with .png): "
            f"{_first(missing)}")
    _check_label(records[0]["sem_seg_file_name"], key, classes, ignore)
    return records
