"""``FCNHead`` (``SEM_SEG_HEADS_REGISTRY``): mmseg's FCN head, the segmentation protocols' head
(docs/protocols.md).

On one feature (res5 of a dilated ResNet, ``modeling/dilated_resnet.py``): ``NUM_CONVS`` x (3x3
conv, dilation ``DILATION``, no bias -> norm -> ReLU) with ``CONVS_DIM`` channels; optionally
(``CONCAT_INPUT``) a 3x3 conv-norm-ReLU on the concatenation of the input and that output;
dropout ``DROPOUT``; a 1x1 classifier (normal(0, 0.01) init, as mmseg's ``conv_seg``). FCN-D6
(VOC/Cityscapes): no concat, no dropout; ``fcn_r50-d8`` (ADE20K): concat, dropout 0.1 and an
auxiliary head on res4 (``FCN.AUX``, ``modeling/fcn_aux_head.py``) whose loss is
``loss_sem_seg_aux``. Logits are upsampled bilinearly to the input size with ``ALIGN_CORNERS``
(True in the VOC-513 and Cityscapes-769 protocol, whose crops have 16k + 1 pixels; False for
ADE20K 512). The conv stack is the pre-training FCN decoder's (``modeling/fcn.py``), with the same
key suffixes (``sem_seg_head.convs.*``); ``conv_cat`` and ``aux`` are never pre-trained.
"""
import torch
import torch.nn.functional as F
from detectron2.config import configurable
from detectron2.layers import Conv2d, ShapeSpec
from detectron2.modeling import SEM_SEG_HEADS_REGISTRY
from torch import nn

from .fcn import fcn_convs
from .fcn_aux_head import AuxFCNHead
from .norm import resolve_norm

__all__ = ["FCNHead", "upsampled_size"]


def upsampled_size(size, stride, align_corners):
    """Input size a ``size`` map of this stride came from, when the caller cannot say: h * s, or
    (h - 1) * s + 1 with corner alignment (exact for the protocol's 16k + 1 crops)."""
    return tuple((n - 1) * stride + 1 if align_corners else n * stride for n in size)


@SEM_SEG_HEADS_REGISTRY.register()
class FCNHead(nn.Module):
    @configurable
    def __init__(self, input_shape: ShapeSpec, *, in_feature, num_classes, channels, num_convs,
                 dilation, norm, align_corners, ignore_value=255, loss_weight=1.0,
                 loss_over_all_pixels=True, concat_input=False, dropout=0.0, aux=None):
        super().__init__()
        self.in_feature = in_feature
        self.stride = input_shape.stride
        self.align_corners = bool(align_corners)
        self.ignore_value = ignore_value
        self.loss_weight = loss_weight
        self.loss_over_all_pixels = loss_over_all_pixels
        self.convs = fcn_convs(input_shape.channels, channels, num_convs, dilation, norm)
        self.conv_cat = fcn_convs(input_shape.channels + channels, channels, 1, 1, norm)[0] \
            if concat_input else None
        self.dropout = nn.Dropout2d(dropout) if dropout > 0 else nn.Identity()
        self.aux = AuxFCNHead(num_classes=num_classes, norm=norm, **aux) if aux else None
        self.predictor = Conv2d(channels, num_classes, kernel_size=1)
        nn.init.normal_(self.predictor.weight, std=0.01)
        nn.init.zeros_(self.predictor.bias)

    @classmethod
    def from_config(cls, cfg, input_shape):
        h = cfg.MODEL.SEM_SEG_HEAD
        if len(h.IN_FEATURES) != 1 or h.IN_FEATURES[0] not in input_shape:
            raise ValueError(f"FCNHead reads one feature: set MODEL.SEM_SEG_HEAD.IN_FEATURES to "
                             f"one of {sorted(input_shape)} (e.g. [\"res5\"]), got "
                             f"{list(h.IN_FEATURES)}")
        return {
            "input_shape": input_shape[h.IN_FEATURES[0]],
            "in_feature": h.IN_FEATURES[0],
            "num_classes": h.NUM_CLASSES,
            "channels": h.CONVS_DIM,
            "num_convs": h.FCN.NUM_CONVS,
            "dilation": h.FCN.DILATION,
            "norm": resolve_norm(h.NORM, cfg.MODEL.DEVICE),
            "align_corners": h.FCN.ALIGN_CORNERS,
            "ignore_value": h.IGNORE_VALUE,
            "loss_weight": h.LOSS_WEIGHT,
            "loss_over_all_pixels": h.FCN.LOSS_OVER_ALL_PIXELS,
            "concat_input": h.FCN.CONCAT_INPUT,
            "dropout": h.FCN.DROPOUT,
            "aux": cls._aux_args(h.FCN.AUX, input_shape),
        }

    @staticmethod
    def _aux_args(a, input_shape):
        if not a.IN_FEATURE:
            return None
        if a.IN_FEATURE not in input_shape:
            raise ValueError(f"MODEL.SEM_SEG_HEAD.FCN.AUX.IN_FEATURE is {a.IN_FEATURE!r}, which "
                             f"the backbone does not return ({sorted(input_shape)}): add it to "
                             "MODEL.RESNETS.OUT_FEATURES, or set it to \"\" (no auxiliary head)")
        return {"in_feature": a.IN_FEATURE, "in_channels": input_shape[a.IN_FEATURE].channels,
                "channels": a.CONVS_DIM, "num_convs": a.NUM_CONVS, "dropout": a.DROPOUT,
                "loss_weight": a.LOSS_WEIGHT}

    def decode(self, features):
        """The conv stack's output (the pre-trained decoder's feature; before the classifier)."""
        return self.convs(features[self.in_feature])

    def layers(self, features):
        """Logits at the feature's resolution."""
        x = self.decode(features)
        if self.conv_cat is not None:
            x = self.conv_cat(torch.cat([features[self.in_feature], x], dim=1))
        return self.predictor(self.dropout(x))

    def upsample(self, logits, size):
        return F.interpolate(logits, size=tuple(size), mode="bilinear",
                             align_corners=self.align_corners)

    def forward(self, features, targets=None):
        """Training: ``(None, {"loss_sem_seg"[, "loss_sem_seg_aux"]})`` on logits upsampled to
        the targets' size (the auxiliary head's loss only with ``FCN.AUX.IN_FEATURE``).
        Inference: ``(logits at the input size, {})``; the input size is inferred from the map
        (``upsampled_size``): ``SlidingWindowSegmentor`` passes the exact size instead."""
        x = self.layers(features)
        if self.training:
            losses = self.losses(x, targets)
            if self.aux is not None:
                aux = self.cross_entropy(self.aux(features), targets) * self.aux.loss_weight
                losses["loss_sem_seg_aux"] = aux
            return None, losses
        return self.upsample(x, upsampled_size(x.shape[-2:], self.stride, self.align_corners)), {}

    def losses(self, logits, targets):
        return {"loss_sem_seg": self.cross_entropy(logits, targets) * self.loss_weight}

    def cross_entropy(self, logits, targets):
        """Cross-entropy of low-resolution ``logits`` upsampled to the ``targets``' size."""
        logits = self.upsample(logits.float(), targets.shape[-2:])  # loss maths in fp32
        if self.loss_over_all_pixels:
            loss = F.cross_entropy(logits, targets, ignore_index=self.ignore_value,
                                   reduction="sum") / max(targets.numel(), 1)
        else:
            valid = (targets != self.ignore_value).any()
            loss = F.cross_entropy(logits, targets, ignore_index=self.ignore_value) if valid \
                else logits.sum() * 0.0  # no labelled pixel: a connected zero, not NaN
        return loss
