"""The published reference of every shipped fine-tuning config, key by key (docs/protocols.md,
docs/voc_detection.md).

:data:`PROTOCOLS` holds one :class:`Reference` per published protocol: where it comes from
(paper / repository / file), the reference value of each protocol key (``keys.py``;
``None`` = the reference does not fix it, not compared) and, per key, the documented reason for
a deliberate difference. :data:`CONFIGS` names the reference of each config file under
``configs/finetune/`` (``Base-*`` files are covered through the configs built on them), with the
values that define the config against its protocol (a limited-label preset's fraction).
``python -m tools.protocols.table`` prints the comparison; ``tests/finetune/
test_protocols.py`` fails when a config differs from its reference without a reason here.
"""
import dataclasses
from typing import Any, Dict, Mapping, Tuple

__all__ = ["Reference", "PROTOCOLS", "CONFIGS", "reference_for"]


@dataclasses.dataclass(frozen=True)
class Reference:
    source: str
    values: Mapping[str, Any]
    #: key -> why the shipped config deliberately differs from the reference value
    reasons: Mapping[str, str] = dataclasses.field(default_factory=dict)


def _with(ref: Reference, source: str = None, reasons: Mapping[str, str] = None, **values
          ) -> Reference:
    """``ref`` with some values replaced (``SOLVER__MAX_ITER=...`` for ``SOLVER.MAX_ITER``)."""
    new = dict(ref.values, **{k.replace("__", "."): v for k, v in values.items()})
    return Reference(source or ref.source, new, dict(ref.reasons, **(reasons or {})))


_SSL_PIXEL = {"INPUT.FORMAT": "RGB", "MODEL.PIXEL_MEAN": [123.675, 116.28, 103.53],
              "MODEL.PIXEL_STD": [58.395, 57.12, 57.375], "MODEL.RESNETS.STRIDE_IN_1X1": False,
              "MODEL.BACKBONE.FREEZE_AT": 0, "DATASETS.DECON.TRAIN_FRACTION": 1.0}
_RCNN = dict(_SSL_PIXEL, **{
    "MODEL.RESNETS.NORM": "SyncBN", "TEST.PRECISE_BN.ENABLED": True, "SOLVER.BASE_LR": 0.02,
    "SOLVER.WEIGHT_DECAY": 0.0001, "SOLVER.LR_SCHEDULER_NAME": "WarmupMultiStepLR",
    "SOLVER.IMS_PER_BATCH": 16, "INPUT.MAX_SIZE_TRAIN": 1333, "INPUT.MIN_SIZE_TEST": 800,
    "INPUT.MAX_SIZE_TEST": 1333, "TEST.EVAL_PERIOD": 0})
_FPN_NORMS = {"MODEL.FPN.NORM": "SyncBN", "MODEL.ROI_BOX_HEAD.NORM": "SyncBN",
              "MODEL.ROI_HEADS.NAME": "StandardROIHeads"}
_VOC_DET = {"SOLVER.STEPS": [18000, 22000], "SOLVER.MAX_ITER": 24000, "SOLVER.WARMUP_ITERS": 100,
            "INPUT.MIN_SIZE_TRAIN": list(range(480, 801, 32)),
            "DATASETS.TRAIN": ["voc_2007_trainval", "voc_2012_trainval"],
            "DATASETS.TEST": ["voc_2007_test"]}

COCO_1X = Reference(
    "DeCon/SlotCon: SlotCon transfer/detection/configs/COCO_R_50_FPN_1x_SlotCon.yaml (MoCo's "
    "Detectron2 COCO R50-FPN 1x, SyncBN everywhere, 4conv1fc box head)",
    dict(_RCNN, **_FPN_NORMS, **{
        "MODEL.ROI_MASK_HEAD.NORM": "SyncBN", "SOLVER.STEPS": [60000, 80000],
        "SOLVER.MAX_ITER": 90000, "SOLVER.WARMUP_ITERS": 1000,
        "INPUT.MIN_SIZE_TRAIN": [640, 672, 704, 736, 768, 800],
        "DATASETS.TRAIN": ["coco_2017_train"], "DATASETS.TEST": ["coco_2017_val"]}))
VOC_C4 = Reference(
    "MoCo / DenseCL / SlotCon VOC detection: MoCo detection/configs/pascal_voc_R_50_C4_24k_moco"
    ".yaml on Base-RCNN-C4-BN.yaml (SyncBN; a later revision of that file says naiveSyncBN), "
    "Res5ROIHeadsExtraNorm",
    dict(_RCNN, **_VOC_DET, **{"MODEL.ROI_HEADS.NAME": "Res5ROIHeadsExtraNorm"}))
VOC_FPN = Reference(
    "no published DeCon/SlotCon/DenseCL row: this project's extra row, the C4 row's data, sizes "
    "and schedule with the COCO R50-FPN model (Base-RCNN-FPN-SyncBN.yaml), as the R50-FPN VOC "
    "24k configs of other SSL repositories",
    dict(_RCNN, **_VOC_DET, **_FPN_NORMS))

_SEG = dict(_SSL_PIXEL, **{
    "MODEL.RESNETS.NORM": "SyncBN", "MODEL.SEM_SEG_HEAD.NORM": "SyncBN",
    "SOLVER.IMS_PER_BATCH": 16, "SOLVER.WARMUP_ITERS": 0, "INPUT.MIN_SIZE_TRAIN_SAMPLING": "range",
    "INPUT.CROP.ENABLED": True})
VOC_FCN = Reference(
    "SlotCon transfer/segmentation/configs/voc12aug/fcn_d6_r50-d16_513x513_30k_voc12aug_moco.py "
    "(mmseg): crop 513, img_scale (2049, 513) x U(0.5, 2), SGD 0.003, wd 1e-4, steps 21k/27k, "
    "30k, eval every 3k, test (2049, 513)",
    dict(_SEG, **{
        "SOLVER.BASE_LR": 0.003, "SOLVER.WEIGHT_DECAY": 0.0001,
        "SOLVER.LR_SCHEDULER_NAME": "WarmupMultiStepLR", "SOLVER.STEPS": [21000, 27000],
        "SOLVER.MAX_ITER": 30000, "INPUT.MIN_SIZE_TRAIN": [256, 1026],
        "INPUT.MAX_SIZE_TRAIN": 4098, "INPUT.MIN_SIZE_TEST": 513, "INPUT.MAX_SIZE_TEST": 2049,
        "TEST.EVAL_PERIOD": 3000, "INPUT.CROP.SIZE": [513, 513],
        "DATASETS.TRAIN": ["voc_2012_sem_seg_train_aug"],
        "DATASETS.TEST": ["voc_2012_sem_seg_val"]}))
CITYSCAPES_FCN = Reference(
    "SlotCon transfer/segmentation/configs/cityscapes/fcn_d6_r50-d16_769x769_90k_cityscapes_moco"
    ".py (mmseg): crop 769, img_scale (2049, 1025) x U(0.5, 2), SGD 0.01, wd 1e-4, steps "
    "63k/81k, 90k, eval every 9k",
    _with(VOC_FCN, SOLVER__BASE_LR=0.01, SOLVER__STEPS=[63000, 81000], SOLVER__MAX_ITER=90000,
          INPUT__MIN_SIZE_TRAIN=[512, 2049], INPUT__MAX_SIZE_TRAIN=4098,
          INPUT__MIN_SIZE_TEST=1025, INPUT__MAX_SIZE_TEST=2049, TEST__EVAL_PERIOD=9000,
          INPUT__CROP__SIZE=[769, 769], DATASETS__TRAIN=["cityscapes_fine_sem_seg_train"],
          DATASETS__TEST=["cityscapes_fine_sem_seg_val"]).values)
ADE20K_FCN = Reference(
    "SlotCon README -> mmseg configs/fcn/fcn_r50-d8_512x512_80k_ade20k.py: crop 512, scale "
    "(2048, 512) x U(0.5, 2), SGD 0.01, wd 5e-4, poly 0.9, 80k, eval every 8k, test (2048, 512)",
    _with(VOC_FCN, SOLVER__BASE_LR=0.01, SOLVER__WEIGHT_DECAY=0.0005,
          SOLVER__LR_SCHEDULER_NAME="WarmupPolyLR", SOLVER__STEPS=None, SOLVER__MAX_ITER=80000,
          INPUT__MIN_SIZE_TRAIN=[256, 1024], INPUT__MAX_SIZE_TRAIN=4096,
          INPUT__MIN_SIZE_TEST=512, INPUT__MAX_SIZE_TEST=2048, TEST__EVAL_PERIOD=8000,
          INPUT__CROP__SIZE=[512, 512], DATASETS__TRAIN=["ade20k_sem_seg_train"],
          DATASETS__TEST=["ade20k_sem_seg_val"]).values)


def _semantic_fpn(fcn: Reference) -> Reference:
    return _with(fcn, source="not a published protocol: this project's Semantic FPN target, "
                 "on the data pipeline, schedule and test sizes of the FCN row of the same data "
                 "set (" + fcn.source.split(" (")[0] + ")", MODEL__FPN__NORM="SyncBN",
                 MODEL__SEM_SEG_HEAD__NORM=None)  # no reference head: Detectron2's GN default


PROTOCOLS: Dict[str, Reference] = {
    "coco_1x": COCO_1X,
    "coco_2x": _with(COCO_1X, source=COCO_1X.source + "; 2x: 180k, steps 120k/160k",
                     SOLVER__STEPS=[120000, 160000], SOLVER__MAX_ITER=180000),
    "voc_c4": VOC_C4,
    "voc_fpn": VOC_FPN,
    "voc12aug_fcn": VOC_FCN,
    "cityscapes_fcn": CITYSCAPES_FCN,
    "ade20k_fcn": ADE20K_FCN,
    "voc12aug_semantic_fpn": _semantic_fpn(VOC_FCN),
    "cityscapes_semantic_fpn": _semantic_fpn(CITYSCAPES_FCN),
    "ade20k_semantic_fpn": _semantic_fpn(ADE20K_FCN),
}

#: config file (under configs/finetune/) -> (protocol, values that define the config against
#: it: a limited-label preset's TRAIN_FRACTION); pairings (_random_init, _encoder_only) change
#: MODEL.WEIGHTS / MODEL.TRANSFER only, which are not protocol keys
CONFIGS: Dict[str, Tuple[str, Mapping[str, Any]]] = {
    **{f"mask_rcnn_R_50_FPN_1x_{v}.yaml": ("coco_1x", {})
       for v in ("decon", "decon_encoder_only", "random_init")},
    "mask_rcnn_R_50_FPN_2x_decon.yaml": ("coco_2x", {}),
    **{f"faster_rcnn_R_50_{m}_voc0712_24k_{v}.yaml": (f"voc_{m.lower()}", {})
       for m in ("C4", "FPN") for v in ("decon", "random_init")},
    **{f"fcn_R_50_{d}_{v}.yaml": (p, {}) for d, p in (("D6_voc12aug_30k", "voc12aug_fcn"),
                                                      ("D6_cityscapes_90k", "cityscapes_fcn"),
                                                      ("D1_ade20k_80k", "ade20k_fcn"))
       for v in ("decon", "decon_encoder_only", "random_init")},
    **{f"semantic_R_50_FPN_{d}_{v}.yaml": (f"{d.split('_')[0]}_semantic_fpn", {})
       for d in ("voc12aug_30k", "cityscapes_90k", "ade20k_80k")
       for v in ("decon", "random_init")},
    # limited-label presets: the full protocol on a deterministic subset of the training images
    "mask_rcnn_R_50_FPN_1x_coco10pct_decon.yaml": (
        "coco_1x", {"DATASETS.DECON.TRAIN_FRACTION": 0.1}),
    "faster_rcnn_R_50_C4_voc0712_24k_voc10pct_decon.yaml": (
        "voc_c4", {"DATASETS.DECON.TRAIN_FRACTION": 0.1}),
}


def reference_for(config_name: str) -> Reference:
    """The reference of ``config_name`` (a file name under configs/finetune/), its defining values
    applied; KeyError naming this module when the config has no entry."""
    if config_name not in CONFIGS:
        raise KeyError(f"configs/finetune/{config_name} has no reference: add it to CONFIGS in "
                       "tools/protocols/references.py (protocol, defining values)")
    protocol, defining = CONFIGS[config_name]
    ref = PROTOCOLS[protocol]
    return Reference(ref.source, dict(ref.values, **defining), ref.reasons)
