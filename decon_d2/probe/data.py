"""A probe data set in memory: images and class maps resized to one square side.

Every image is resized (bilinear, antialiased) to ``size x size`` and its class map (nearest) to
the same grid, which is the label resolution the probe scores at. Squashing the aspect ratio
keeps batching and caching trivial and treats every set of weights alike.
"""
from dataclasses import dataclass
from typing import List, Optional

import numpy as np
import torch
from detectron2.data import DatasetCatalog
from detectron2.data.detection_utils import read_image
from PIL import Image

from .labels import ClassInfo, class_info, semantic_map

__all__ = ["ProbeSet", "load_probe_set", "load_images"]


@dataclass
class ProbeSet:
    """``images``: N x 3 x S x S uint8 RGB; ``labels``: N x S x S uint8 (``IGNORE`` = ignored)."""

    name: str
    images: torch.Tensor
    labels: torch.Tensor
    classes: ClassInfo

    def __len__(self):
        return len(self.images)


def _resize_rgb(rgb: np.ndarray, size: int) -> torch.Tensor:
    img = Image.fromarray(np.ascontiguousarray(rgb)).resize((size, size), Image.BILINEAR)
    return torch.from_numpy(np.asarray(img).copy()).permute(2, 0, 1)


def load_images(paths: List[str], size: int) -> torch.Tensor:
    """N x 3 x size x size uint8 RGB tensors of image files (EXIF orientation applied)."""
    return torch.stack([_resize_rgb(read_image(p, format="RGB"), size) for p in paths])


def load_probe_set(dataset: str, size: int, max_images: int = 0,
                   classes: Optional[ClassInfo] = None) -> ProbeSet:
    """Load ``dataset`` (its first ``max_images`` records when > 0) at ``size`` px.

    ``dataset``: a registered name, or several joined by commas (concatenated, one class list).
    ``classes``: the class list the set must share (the training set's, for the validation set).
    """
    records, info = [], None
    for name in dataset.split(","):
        if name not in DatasetCatalog.list():
            raise KeyError(f"data set {name!r} is not registered: name a registered set (the "
                           "demo and study sets, COCO, VOC, ...) or declare yours in a config "
                           "(DATASETS.DECON.SEM_SEG / COCO_INSTANCES, docs/data.md) and pass that "
                           "config with --config-file")
        part = DatasetCatalog.get(name)
        if not part:
            raise ValueError(f"data set {name!r} is empty")
        part_info = class_info(name, part)
        expected = classes or info
        if expected is not None and part_info.names != expected.names:
            raise ValueError(f"data set {name!r} has classes {part_info.names}, the probe's "
                             f"training set has {expected.names}: all probe sets must share one "
                             "class list")
        info = info or part_info
        records += [(r, part_info) for r in part]
    if max_images > 0:
        records = records[:max_images]
    images, labels = [], []
    for r, part_info in records:
        rgb = read_image(r["file_name"], format="RGB")
        label = semantic_map(r, part_info)
        if label.shape != rgb.shape[:2]:
            raise ValueError(f"{r['file_name']}: image {rgb.shape[:2]} and label {label.shape} "
                             "differ in size")
        images.append(_resize_rgb(rgb, size))
        lab = Image.fromarray(label).resize((size, size), Image.NEAREST)
        labels.append(torch.from_numpy(np.asarray(lab).copy()))
    return ProbeSet(dataset, torch.stack(images), torch.stack(labels), info)

