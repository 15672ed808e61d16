"""``FCNHead`` (``SEM_SEG_HEADS_REGISTRY``): the segmentation protocol's FCN head (docs/method.md §4.5).

On one feature (res5 of a ResNet at output stride 16, ``RES5_DILATION: 2``): ``NUM_CONVS`` x
(3x3 conv, dilation ``DILATION``, no bias -> norm -> ReLU) with ``CONVS_DIM`` channels, no input
concat, no dropout, then a 1x1 classifier (normal(0, 0.01) init, as mmseg's ``conv_seg``). Logits
are upsampled bilinearly to the input size with ``ALIGN_CORNERS`` (True in the VOC-513 and
Cityscapes-769 protocol, whose crops have 16k + 1 pixels; False for ADE20K 512). The conv stack is
the pre-training FCN decoder's (``modeling/fcn.py``), with the same key suffixes.
"""
import torch.nn.functional as F
from detectron2.config import configurable
from detectron2.layers import Conv2d, ShapeSpec
from detectron2.modeling import SEM_SEG_HEADS_REGISTRY
from torch import nn

from .fcn import fcn_convs
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
                 loss_over_all_pixels=True):
        super().__init__()
        self.in_feature = in_feature
        self.stride = input_shape.stride
        self.align_corners = bool(align_corners)
        self.ignore_value = ignore_value
        self.loss_weight = loss_weight
        self.loss_over_all_pixels = loss_over_all_pixels
        self.convs = fcn_convs(input_shape.channels, channels, num_convs, dilation, norm)
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
        }

    def decode(self, features):
        """The conv stack's output (the pre-trained decoder's feature; before the classifier)."""
        return self.convs(features[self.in_feature])

    def layers(self, features):
        """Logits at the feature's resolution."""
        return self.predictor(self.decode(features))

    def upsample(self, logits, size):
        return F.interpolate(logits, size=tuple(size), mode="bilinear",
                             align_corners=self.align_corners)

    def forward(self, features, targets=None):
        """Training: ``(None, {"loss_sem_seg"})`` on logits upsampled to the targets' size.
        Inference: ``(logits at the input size, {})``; the input size is inferred from the map
        (``upsampled_size``): ``SlidingWindowSegmentor`` passes the exact size instead."""
        x = self.layers(features)
        if self.training:
            return None, self.losses(x, targets)
        return self.upsample(x, upsampled_size(x.shape[-2:], self.stride, self.align_corners)), {}

    def losses(self, logits, targets):
        logits = self.upsample(logits.float(), targets.shape[-2:])  # loss maths in fp32
        if self.loss_over_all_pixels:
            loss = F.cross_entropy(logits, targets, ignore_index=self.ignore_value,
                                   reduction="sum") / max(targets.numel(), 1)
        else:
            valid = (targets != self.ignore_value).any()
            loss = F.cross_entropy(logits, targets, ignore_index=self.ignore_value) if valid \
                else logits.sum() * 0.0  # no labelled pixel: a connected zero, not NaN
        return {"loss_sem_seg": loss * self.loss_weight}
