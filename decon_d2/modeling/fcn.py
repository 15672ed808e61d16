"""The FCN decoder: mmsegmentation's ``FCNHead`` conv stack, shared by pre-training and fine-tuning.

``fcn_convs`` builds ``num_convs`` x (3x3 conv, dilation d, padding d, no bias -> norm -> ReLU),
the decoder of the authors' single-level DeCon variant (docs/method.md §1.3) and of the
segmentation protocol's FCN head (§4.5). Pre-training holds it as ``DeConFCN.fcn.convs`` on res5,
fine-tuning as ``FCNHead.convs`` (``sem_seg_head.convs``), so the converter only changes the
prefix (``<branch>.backbone.fcn.`` -> ``sem_seg_head.``), as for the FPN (docs/method.md D6).

Pre-training map size (docs/method.md §7.7): the decoder reads res5 of the plain stride-32 ResNet
(7x7 at 224 px), as in the authors' code. Dilating res5 instead (output stride 16, the
fine-tuning geometry) would change the encoder loss of every variant and the encoder exported to
Mask R-CNN, and cost 4x the res5 and head compute; so the geometry differs between pre-training
and fine-tuning, and ``MODEL.DECON.FCN.DILATION`` says how far apart the taps are.
"""
import fvcore.nn.weight_init as weight_init
import torch.nn.functional as F
from detectron2.layers import Conv2d, ShapeSpec, get_norm
from detectron2.modeling import Backbone
from torch import nn

from .recompute import resnet_features

__all__ = ["fcn_convs", "FCNDecoder", "DeConFCN", "FCN_FEATURE"]

#: name of the FCN decoder's output feature (its ``DECODER_LEVELS`` entry)
FCN_FEATURE = "fcn"


def fcn_convs(in_channels, channels, num_convs, dilation, norm):
    """``nn.Sequential`` of conv-norm-ReLU layers, keys ``{i}.weight`` and ``{i}.norm.*``;
    MSRA (fan-out) init, as mmcv's ``ConvModule``."""
    layers = []
    for i in range(num_convs):
        conv = Conv2d(in_channels if i == 0 else channels, channels, kernel_size=3,
                      padding=dilation, dilation=dilation, bias=not norm,
                      norm=get_norm(norm, channels), activation=F.relu)
        weight_init.c2_msra_fill(conv)
        layers.append(conv)
    return nn.Sequential(*layers)


class FCNDecoder(nn.Module):
    """The conv stack as a module with a ``convs`` child (keys ``convs.{i}.*``)."""

    def __init__(self, in_channels, channels, num_convs, dilation, norm):
        super().__init__()
        self.convs = fcn_convs(in_channels, channels, num_convs, dilation, norm)

    def forward(self, x):
        return self.convs(x)


class DeConFCN(Backbone):
    """The ResNet (``bottom_up``) plus the FCN decoder on its last stage (``fcn``).

    ``forward`` returns the ResNet features and ``"fcn"`` (``channels`` wide, res5's stride).
    """

    def __init__(self, bottom_up, in_feature, *, channels, num_convs, dilation, norm):
        super().__init__()
        self.bottom_up = bottom_up
        self.in_feature = in_feature
        shapes = bottom_up.output_shape()
        if in_feature not in shapes:
            raise ValueError(f"the FCN decoder reads {in_feature!r}, which the ResNet does not "
                             f"return ({sorted(shapes)}): add it to MODEL.RESNETS.OUT_FEATURES")
        self.fcn = FCNDecoder(shapes[in_feature].channels, channels, num_convs, dilation, norm)
        self._fcn_shape = ShapeSpec(channels=channels, stride=shapes[in_feature].stride)
        self.recompute_stages = False  # MODEL.DECON.BACKBONE_RECOMPUTE (modeling/backbone.py)

    def forward(self, x):
        feats = resnet_features(self.bottom_up, x, self.recompute_stages)
        return {**feats, FCN_FEATURE: self.fcn(feats[self.in_feature])}

    def output_shape(self):
        return {**self.bottom_up.output_shape(), FCN_FEATURE: self._fcn_shape}
