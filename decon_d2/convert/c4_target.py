"""What is particular to the C4 target: Faster R-CNN R50-C4 of the VOC detection protocol
(docs/voc_detection.md; its config is ``targets.c4_finetune_cfg``).

Layout (Detectron2's ``build_resnet_backbone`` with ``OUT_FEATURES ["res4"]`` + ``Res5ROIHeads``):
the backbone is stem..res4 (``backbone.stem.*``, ``backbone.res2.*`` .. ``backbone.res4.*``) and
res5 is the ROI head's per-region network (``roi_heads.res5.{0,1,2}.*``), followed in the
protocol by an extra norm (``roi_heads.res5.norm.*``, ``modeling/res5_extra_norm.py``) that is
never pre-trained. The name map is ``decon_d2.weights.encoder_placement``.

Only the encoder goes to this target: a pre-trained FPN has nowhere to go (a C4 detector has no
FPN), so ``convert_to_d2`` drops it with :data:`FPN_DROP_REASON` in the report.

Verification (``verify.py``) compares res2..res4 of the loaded backbone and res5 computed by the
ROI head's res5 blocks on the whole res4 map (the same convolutions the head runs on each
region), i.e. the same four feature maps as for the FPN target.
"""
from typing import Dict

import torch

__all__ = ["res5_from_roi_head", "FPN_DROP_REASON"]

FPN_DROP_REASON = ("FPN decoder not exported: the C4 target has no FPN (res5 runs in the ROI "
                   "head); encoder only")


@torch.no_grad()
def res5_from_roi_head(model, res4: torch.Tensor) -> Dict[str, torch.Tensor]:
    """``{"res5": ...}``: the ROI head's res5 blocks (not its extra norm) on the whole res4 map."""
    x = res4
    for name, block in model.roi_heads.res5.named_children():
        if not name.isdigit():  # the extra norm (res5_extra_norm.py): not the ResNet's
            continue
        x = block(x)
    return {"res5": x}
