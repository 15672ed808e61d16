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

from .labels import IGNORE, ClassInfo, class_info, semantic_map

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

    ``classes``: the class list the set must share (the training set's, for the validation set).
    """
    records = DatasetCatalog.get(dataset)
    if max_images > 0:
        records = records[:max_images]
    if not records:
        raise ValueError(f"data set {dataset!r} is empty")
    info = class_info(dataset, records)
    if classes is not None and info.names != classes.names:
        raise ValueError(f"data set {dataset!r} has classes {info.names}, the probe's training "
                         f"set has {classes.names}: train and val must share one class list")
    images, labels = [], []
    for r in records:
        rgb = read_image(r["file_name"], format="RGB")
        label = semantic_map(r, info)
        if label.shape != rgb.shape[:2]:
            raise ValueError(f"{r['file_name']}: image {rgb.shape[:2]} and label {label.shape} "
                             "differ in size")
        images.append(_resize_rgb(rgb, size))
        lab = Image.fromarray(label).resize((size, size), Image.NEAREST)
        labels.append(torch.from_numpy(np.asarray(lab).copy()))
    return ProbeSet(dataset, torch.stack(images), torch.stack(labels), info)


def class_pixel_counts(labels: torch.Tensor, num_classes: int) -> torch.Tensor:
    """Pixels per class (ignored pixels excluded)."""
    flat = labels.flatten().long()
    return torch.bincount(flat[flat != IGNORE], minlength=num_classes)
