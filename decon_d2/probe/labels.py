"""Per-pixel class maps for the dense probe, from any registered Detectron2 data set.

Two kinds of records are understood:

- ``sem_seg_file_name`` (Detectron2's semantic segmentation layout): the PNG's values are class
  indices into ``stuff_classes``; ``ignore_label`` (default 255) is ignored. A class named
  "background" (any case), if there is one, is the background of the foreground mIoU.
- instance annotations with masks (COCO instances, ``annotations[*].segmentation`` as polygons or
  RLE): class 0 is background, thing class ``c`` is ``c + 1``; instances are painted in record
  order, so later instances lie on top; crowd regions (``iscrowd``) are painted as ignored.
"""
from dataclasses import dataclass
from typing import List, Optional

import numpy as np
import pycocotools.mask as mask_util
from detectron2.data import DatasetCatalog, MetadataCatalog
from detectron2.structures import polygons_to_bitmask
from PIL import Image

__all__ = ["IGNORE", "ClassInfo", "class_info", "semantic_map"]

#: the value of ignored pixels in every label map of the probe
IGNORE = 255


@dataclass(frozen=True)
class ClassInfo:
    """Class names of a data set as the probe sees them, and which index is background."""

    names: List[str]
    background: Optional[int]
    kind: str  # "sem_seg" or "instances"
    ignore_label: int = IGNORE  # the sem_seg files' own ignore value


def class_info(dataset: str, records=None) -> ClassInfo:
    """Classes of ``dataset``; an error names the data set when it has no dense labels."""
    records = DatasetCatalog.get(dataset) if records is None else records
    meta = MetadataCatalog.get(dataset)
    if records and "sem_seg_file_name" in records[0]:
        names = list(getattr(meta, "stuff_classes", None) or [])
        if not names:
            raise ValueError(f"data set {dataset!r} has sem_seg_file_name but no stuff_classes in "
                             "its metadata: set MetadataCatalog.get(name).stuff_classes")
        lower = [n.lower() for n in names]
        bg = lower.index("background") if "background" in lower else None
        ignore = int(getattr(meta, "ignore_label", IGNORE))
        if len(names) >= IGNORE:
            raise ValueError(f"data set {dataset!r}: {len(names)} classes; the probe stores labels "
                             f"as uint8 with {IGNORE} = ignore, so at most {IGNORE - 1} classes")
        return ClassInfo(names, bg, "sem_seg", ignore)
    has_masks = any("segmentation" in a for r in records for a in r.get("annotations", ()))
    if not has_masks:
        raise ValueError(
            f"data set {dataset!r} has neither instance masks (annotations[*].segmentation) nor "
            "sem_seg_file_name: the dense probe needs per-pixel labels (register a COCO instances "
            "JSON with masks, or a semantic segmentation set)")
    things = list(getattr(meta, "thing_classes", None) or [])
    if not things:
        raise ValueError(f"data set {dataset!r} has instance masks but no thing_classes metadata")
    if len(things) + 1 >= IGNORE:
        raise ValueError(f"data set {dataset!r}: too many classes ({len(things)}) for uint8 labels")
    return ClassInfo(["background"] + things, 0, "instances")


def _instance_mask(seg, h: int, w: int) -> np.ndarray:
    if isinstance(seg, list):  # polygons
        return polygons_to_bitmask(seg, h, w)
    if isinstance(seg, dict):  # RLE, compressed or not
        rle = mask_util.frPyObjects(seg, h, w) if isinstance(seg["counts"], list) else seg
        return mask_util.decode(rle).astype(bool)
    if isinstance(seg, np.ndarray):
        return seg.astype(bool)
    raise ValueError(f"unsupported segmentation format {type(seg).__name__}")


def semantic_map(record: dict, info: ClassInfo) -> np.ndarray:
    """``H x W`` uint8 class map of one record (``IGNORE`` = ignored)."""
    if info.kind == "sem_seg":
        raw = np.asarray(Image.open(record["sem_seg_file_name"]))
        if raw.ndim != 2:
            raise ValueError(f"{record['sem_seg_file_name']}: expected a single-channel label PNG")
        out = raw.astype(np.int64)
        ignored = raw == info.ignore_label
        bad = ((out < 0) | (out >= len(info.names))) & ~ignored
        if bad.any():
            raise ValueError(f"{record['sem_seg_file_name']}: label values "
                             f"{sorted(set(out[bad].tolist()))[:5]} are neither a class index "
                             f"(< {len(info.names)}) nor the ignore label {info.ignore_label}")
        out[ignored] = IGNORE
        return out.astype(np.uint8)
    h, w = int(record["height"]), int(record["width"])
    out = np.zeros((h, w), dtype=np.uint8)
    for ann in record.get("annotations", ()):
        if "segmentation" not in ann:
            continue
        mask = _instance_mask(ann["segmentation"], h, w)
        out[mask] = IGNORE if ann.get("iscrowd", 0) else int(ann["category_id"]) + 1
    return out
