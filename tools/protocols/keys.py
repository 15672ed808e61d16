"""The settings a transfer protocol is judged by, read from a merged fine-tuning config.

Each key is a dotted config path; :func:`protocol_values` returns their values in plain Python
(tuples as lists) so that a config and its published reference (``references.py``) are
compared value for value by ``python -m tools.protocols.table``. Keys that do not apply to
a model (an FPN norm in a C4 detector, a crop in a detector) are left out by :func:`keys_for`.
"""
from typing import Any, Dict, List, Tuple

__all__ = ["GROUPS", "keys_for", "protocol_values", "task_of", "get_key"]

#: (group, keys) in print order; the groups are the brief's "pixel, norms, freeze, solver,
#: input sizes, eval sizes, crop, data"
GROUPS: Tuple[Tuple[str, Tuple[str, ...]], ...] = (
    ("pixel", ("INPUT.FORMAT", "MODEL.PIXEL_MEAN", "MODEL.PIXEL_STD",
               "MODEL.RESNETS.STRIDE_IN_1X1")),
    ("norms", ("MODEL.RESNETS.NORM", "MODEL.FPN.NORM", "MODEL.ROI_BOX_HEAD.NORM",
               "MODEL.ROI_MASK_HEAD.NORM", "MODEL.ROI_HEADS.NAME", "MODEL.SEM_SEG_HEAD.NORM",
               "TEST.PRECISE_BN.ENABLED")),
    ("freeze", ("MODEL.BACKBONE.FREEZE_AT",)),
    ("solver", ("SOLVER.BASE_LR", "SOLVER.WEIGHT_DECAY", "SOLVER.LR_SCHEDULER_NAME",
                "SOLVER.STEPS", "SOLVER.MAX_ITER", "SOLVER.IMS_PER_BATCH",
                "SOLVER.WARMUP_ITERS")),
    ("input", ("INPUT.MIN_SIZE_TRAIN", "INPUT.MAX_SIZE_TRAIN", "INPUT.MIN_SIZE_TRAIN_SAMPLING")),
    ("eval", ("INPUT.MIN_SIZE_TEST", "INPUT.MAX_SIZE_TEST", "TEST.EVAL_PERIOD")),
    ("crop", ("INPUT.CROP.ENABLED", "INPUT.CROP.SIZE")),
    ("data", ("DATASETS.TRAIN", "DATASETS.TEST", "DATASETS.DECON.TRAIN_FRACTION")),
)

_DETECTION_ONLY = {"MODEL.ROI_BOX_HEAD.NORM", "MODEL.ROI_MASK_HEAD.NORM", "MODEL.ROI_HEADS.NAME",
                   "TEST.PRECISE_BN.ENABLED"}
_SEGMENTATION_ONLY = {"MODEL.SEM_SEG_HEAD.NORM", "INPUT.CROP.ENABLED", "INPUT.CROP.SIZE",
                      "INPUT.MIN_SIZE_TRAIN_SAMPLING"}


def get_key(cfg, key: str) -> Any:
    """``cfg`` value at dotted ``key``, as plain Python (tuples -> lists)."""
    node = cfg
    for part in key.split("."):
        node = node[part]
    return _plain(node)


def _plain(value):
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    return value


def task_of(cfg) -> str:
    """"detection" (an R-CNN) or "segmentation" (a semantic segmentor)."""
    return "detection" if cfg.MODEL.META_ARCHITECTURE == "GeneralizedRCNN" else "segmentation"


def keys_for(cfg) -> List[str]:
    """The protocol keys that apply to the model ``cfg`` builds."""
    task = task_of(cfg)
    c4 = task == "detection" and cfg.MODEL.BACKBONE.NAME == "build_resnet_backbone"
    skip = _SEGMENTATION_ONLY if task == "detection" else _DETECTION_ONLY
    if c4:  # no FPN, no box head of its own (res5 is the head): those norms do not exist
        skip = skip | {"MODEL.FPN.NORM", "MODEL.ROI_BOX_HEAD.NORM"}
    if task == "detection" and not cfg.MODEL.MASK_ON:
        skip = skip | {"MODEL.ROI_MASK_HEAD.NORM"}
    if task == "segmentation" and "FPN" not in cfg.MODEL.BACKBONE.NAME.upper():
        skip = skip | {"MODEL.FPN.NORM"}
    return [k for _, keys in GROUPS for k in keys if k not in skip]


def protocol_values(cfg) -> Dict[str, Any]:
    """``{key: value}`` for :func:`keys_for` ``cfg``."""
    return {k: get_key(cfg, k) for k in keys_for(cfg)}
