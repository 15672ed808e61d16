"""Checks of the fine-tuning records against the config, made once the records are loaded.

- **Mask format.** Detectron2's default ``INPUT.MASK_FORMAT`` "polygon" cannot hold RLE masks
  (masks exported from label tools): training stops deep in the mapper. When non-crowd
  annotations hold RLE masks and the config says "polygon", fine-tuning uses "bitmask" (which
  also reads polygons) and logs that it does, naming ``INPUT.MASK_FORMAT``. Crowd annotations
  (``iscrowd`` 1, COCO's RLE regions) are dropped by the mapper and not counted, so COCO keeps
  "polygon", as the published protocol.
- **Classes.** ``MODEL.ROI_HEADS.NUM_CLASSES`` (``MODEL.SEM_SEG_HEAD.NUM_CLASSES`` for semantic
  segmentation) below the training set's class count indexes past the classifier (a crash on GPU,
  or garbage); above it, the extra outputs never train. A semantic set whose ``ignore_label``
  differs from ``MODEL.SEM_SEG_HEAD.IGNORE_VALUE`` would train its unlabelled pixels as a class.
"""
import logging
from typing import List, Optional

from detectron2.data import MetadataCatalog

from ..modeling import SEMSEG_ARCHITECTURES

from .preflight import FinetuneConfigError

logger = logging.getLogger(__name__)


def count_rle(records: List[dict]) -> tuple:
    """(RLE masks, all masks) over the annotations the mapper keeps: Detectron2's
    ``DatasetMapper`` drops ``iscrowd`` ones, so COCO's crowd RLEs never reach the mask format."""
    segms = [a["segmentation"] for r in records for a in r.get("annotations", ())
             if a.get("segmentation") and not a.get("iscrowd", 0)]
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
    """Compare the model's class count with the training sets' ``thing_classes`` (detection) or
    ``stuff_classes`` (semantic segmentation), and the semantic ignore value with theirs."""
    if cfg.MODEL.META_ARCHITECTURE == "GeneralizedRCNN":
        key, have, field = "MODEL.ROI_HEADS.NUM_CLASSES", cfg.MODEL.ROI_HEADS.NUM_CLASSES, \
            "thing_classes"
    elif cfg.MODEL.META_ARCHITECTURE in SEMSEG_ARCHITECTURES:
        key, have, field = "MODEL.SEM_SEG_HEAD.NUM_CLASSES", cfg.MODEL.SEM_SEG_HEAD.NUM_CLASSES, \
            "stuff_classes"
    else:
        return
    for name in cfg.DATASETS.TRAIN:
        meta = MetadataCatalog.get(name)
        classes = meta.get(field)
        if classes is None:
            continue
        if have < len(classes):
            raise FinetuneConfigError(
                f"{key} is {have} but data set {name!r} has {len(classes)} classes: "
                f"set {key} {len(classes)}")
        if have > len(classes):
            logger.warning(f"{key} is {have}; data set {name!r} has {len(classes)} classes "
                           "(the other outputs never train).")
        ignore = meta.get("ignore_label")
        if field == "stuff_classes" and ignore is not None and \
                ignore != cfg.MODEL.SEM_SEG_HEAD.IGNORE_VALUE:
            raise FinetuneConfigError(
                f"MODEL.SEM_SEG_HEAD.IGNORE_VALUE is {cfg.MODEL.SEM_SEG_HEAD.IGNORE_VALUE} but "
                f"data set {name!r} marks unlabelled pixels {ignore}: set "
                f"MODEL.SEM_SEG_HEAD.IGNORE_VALUE {ignore}")
