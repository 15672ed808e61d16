"""The C4 target: Faster R-CNN R50-C4 of the VOC detection protocol (docs/voc_detection.md).

Layout (Detectron2's ``build_resnet_backbone`` with ``OUT_FEATURES ["res4"]`` + ``Res5ROIHeads``):
the backbone is stem..res4 (``backbone.stem.*``, ``backbone.res2.*`` .. ``backbone.res4.*``) and
res5 is the ROI head's per-region network (``roi_heads.res5.{0,1,2}.*``), followed in the
protocol by an extra norm (``roi_heads.res5.norm.*``, ``modeling/res5_extra_norm.py``) that is
never pre-trained. The name map is ``rules.encoder_placement``.

Only the encoder goes to this target: a pre-trained FPN has nowhere to go (a C4 detector has no
FPN), so ``convert_to_d2`` drops it with :data:`FPN_DROP_REASON` in the report.

Verification (``verify.py``) compares res2..res4 of the loaded backbone and res5 computed by the
ROI head's res5 blocks on the whole res4 map (the same convolutions the head runs on each
region), i.e. the same four feature maps as for the FPN target.
"""
from typing import Dict

import torch

from ..modeling import res5_extra_norm  # noqa: F401  (registers Res5ROIHeadsExtraNorm)
from ..weights import set_resnet_depth
from . import rules
from .formats import ConversionError

__all__ = ["c4_finetune_cfg", "res5_from_roi_head", "FPN_DROP_REASON", "TARGETS",
           "finetune_cfg_for"]

FPN_DROP_REASON = ("FPN decoder not exported: the C4 target has no FPN (res5 runs in the ROI "
                   "head); encoder only")


def c4_finetune_cfg(pixel_mean=None, pixel_std=None, input_format="RGB", stride_in_1x1=False):
    """Faster R-CNN R50-C4 as ``configs/finetune/faster_rcnn_R_50_C4_voc0712_24k_decon.yaml``
    builds it (model only): model-zoo Base-RCNN-C4 + ``Res5ROIHeadsExtraNorm``, SyncBN,
    FREEZE_AT 0, 20 VOC classes, no mask head, the pre-training's input conventions."""
    cfg = rules.ssl_model_zoo_cfg("Base-RCNN-C4.yaml", pixel_mean, pixel_std, input_format,
                                  stride_in_1x1)
    cfg.MODEL.MASK_ON = False
    cfg.MODEL.ROI_HEADS.NAME = "Res5ROIHeadsExtraNorm"
    cfg.MODEL.ROI_HEADS.NUM_CLASSES = 20
    return cfg


#: ``--target`` of the converter CLI (used when no ``--config`` is given)
TARGETS = {"fpn": rules.default_finetune_cfg, "c4": c4_finetune_cfg}


def finetune_cfg_for(target: str, conventions, depth: int = 50, fpn_width=None):
    """The built-in fine-tune config of ``target`` ("fpn" or "c4") with ``conventions``, for a
    ResNet of ``depth`` and an FPN of ``fpn_width`` channels (the checkpoint's, read off its
    tensors by ``decon_d2.weights.geometry``; None: Detectron2's 256)."""
    if target not in TARGETS:
        raise ValueError(f"--target must be one of {sorted(TARGETS)}, got {target!r}")
    if target == "c4" and depth < 50:
        raise ConversionError(f"--target c4 needs a bottleneck ResNet (50/101/152): Detectron2's "
                              f"Res5ROIHeads has no basic-block res5, and the checkpoint is a "
                              f"ResNet-{depth}; use --target fpn or --config <your config>")
    cfg = TARGETS[target](conventions.pixel_mean, conventions.pixel_std,
                          conventions.input_format, conventions.stride_in_1x1)
    if fpn_width and target == "fpn":
        cfg.MODEL.FPN.OUT_CHANNELS = int(fpn_width)
    return set_resnet_depth(cfg, depth)


@torch.no_grad()
def res5_from_roi_head(model, res4: torch.Tensor) -> Dict[str, torch.Tensor]:
    """``{"res5": ...}``: the ROI head's res5 blocks (not its extra norm) on the whole res4 map."""
    x = res4
    for name, block in model.roi_heads.res5.named_children():
        if not name.isdigit():  # the extra norm (res5_extra_norm.py): not the ResNet's
            continue
        x = block(x)
    return {"res5": x}
