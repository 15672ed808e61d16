"""``Res5ROIHeadsExtraNorm``: the C4 ROI head of the VOC detection transfer protocol
(docs/voc_detection.md): Detectron2's ``Res5ROIHeads`` with one more norm layer after the res5
stage that the head runs on every region.

Detectron2 has no equivalent (its ``Res5ROIHeads`` ends at the last bottleneck's ReLU). The
extra norm is of type ``MODEL.RESNETS.NORM`` (SyncBN in the protocol), is never pre-trained
(the converter leaves ``roi_heads.res5.norm.*`` to fine-tuning, group "roi_res5_extra_norm"),
and normalises the region features before the box predictor: the MoCo protocol's answer to
pre-trained features whose scale is not that of supervised ImageNet features.

It lives in ``decon_d2.modeling`` because the converter's C4 target
(``decon_d2/convert/targets.py``) is built from it and the converter sits below
``decon_d2.finetune`` in the package layers (tests/test_structure.py).
"""
from detectron2.layers import get_norm
from detectron2.modeling import ROI_HEADS_REGISTRY
from detectron2.modeling.roi_heads import Res5ROIHeads

__all__ = ["Res5ROIHeadsExtraNorm", "EXTRA_NORM"]

#: name of the extra norm inside the res5 ``nn.Sequential`` (state-dict ``roi_heads.res5.norm.*``)
EXTRA_NORM = "norm"

if "Res5ROIHeadsExtraNorm" not in ROI_HEADS_REGISTRY:
    @ROI_HEADS_REGISTRY.register()
    class Res5ROIHeadsExtraNorm(Res5ROIHeads):
        """Res5ROIHeads whose res5 ``nn.Sequential`` ends with ``get_norm(RESNETS.NORM)``."""

        @classmethod
        def _build_res5_block(cls, cfg):
            stage, channels = super()._build_res5_block(cfg)
            if not cfg.MODEL.RESNETS.NORM:
                raise ValueError("MODEL.ROI_HEADS.NAME 'Res5ROIHeadsExtraNorm' needs a norm type "
                                 "in MODEL.RESNETS.NORM (the protocol: \"SyncBN\"), got ''")
            stage.add_module(EXTRA_NORM, get_norm(cfg.MODEL.RESNETS.NORM, channels))
            return stage, channels
else:  # the module was imported under another name (a test re-import): reuse the registered one
    Res5ROIHeadsExtraNorm = ROI_HEADS_REGISTRY.get("Res5ROIHeadsExtraNorm")
