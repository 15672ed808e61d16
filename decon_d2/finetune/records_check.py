"""Checks of the fine-tuning records against the config, made once the records are loaded.

- **Mask format.** Detectron2's default ``INPUT.MASK_FORMAT`` "polygon" cannot hold RLE masks
  (COCO crowd regions, masks exported from label tools): training stops deep in the mapper.
  When the records hold RLE masks and the config says "polygon", fine-tuning uses "bitmask"
  (which also reads polygons) and logs that it does, naming ``INPUT.MASK_FORMAT``.
- **Classes.** ``MODEL.ROI_HEADS.NUM_CLASSES`` below the training set's class count indexes past
  the classifier (a crash on GPU, or garbage); above it, the extra outputs never train.
"""
import logging
from typing import List, Optional

from detectron2.data import MetadataCatalog

from .preflight import FinetuneConfigError

logger = logging.getLogger(__name__)


def count_rle(records: List[dict]) -> tuple:
    """(RLE masks, all masks) over the records' annotations."""
    segms = [a["segmentation"] for r in records for a in r.get("annotations", ())
             if a.get("segmentation")]
    return sum(isinstance(s, dict) for s in segms), len(segms)


def mask_format_for(cfg, records: List[dict]) -> Optional[str]:
    """The mask format fine-tuning must use instead of the config's, or None to keep it."""
    if not cfg.MODEL.MASK_ON or cfg.INPUT.MASK_FORMAT != "polygon":
        return None
    rle, total = count_rle(records)
    if not rle:
        return None
    logger.warning(
        f"INPUT.MASK_FORMAT is 'polygon' but {rle} of {total} masks of DATASETS.TRAIN "
        f"{tuple(cfg.DATASETS.TRAIN)} are RLE, which polygons cannot hold: using 'bitmask' (it "
        "reads both). Set INPUT.MASK_FORMAT: bitmask in the config to make this explicit.")
    return "bitmask"


def check_num_classes(cfg) -> None:
    """Compare ``MODEL.ROI_HEADS.NUM_CLASSES`` with the loaded training sets' ``thing_classes``."""
    if cfg.MODEL.META_ARCHITECTURE != "GeneralizedRCNN":
        return
    have = cfg.MODEL.ROI_HEADS.NUM_CLASSES
    for name in cfg.DATASETS.TRAIN:
        classes = MetadataCatalog.get(name).get("thing_classes")
        if classes is None:
            continue
        if have < len(classes):
            raise FinetuneConfigError(
                f"MODEL.ROI_HEADS.NUM_CLASSES is {have} but data set {name!r} has "
                f"{len(classes)} classes: set MODEL.ROI_HEADS.NUM_CLASSES {len(classes)}")
        if have > len(classes):
            logger.warning(f"MODEL.ROI_HEADS.NUM_CLASSES is {have}; data set {name!r} has "
                           f"{len(classes)} classes (the other outputs never train).")
