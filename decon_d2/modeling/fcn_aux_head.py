"""The auxiliary FCN head of mmseg's ``fcn_r50-d8`` (the ADE20K reference, docs/protocols.md):
on res4, ``num_convs`` x (3x3 conv -> norm -> ReLU), dropout, 1x1 classifier; its loss (weight
0.4 in the reference) only shapes training and its logits are never used at test time.

It lives inside ``FCNHead`` (``sem_seg_head.aux.*``), apart from the ``sem_seg_head.convs.*``
keys that take a pre-trained FCN decoder, so it is always freshly initialised.
"""
from detectron2.layers import Conv2d
from torch import nn

from .fcn import fcn_convs

__all__ = ["AuxFCNHead"]


class AuxFCNHead(nn.Module):
    def __init__(self, in_feature, in_channels, channels, num_convs, num_classes, norm, dropout,
                 loss_weight):
        super().__init__()
        self.in_feature = in_feature
        self.loss_weight = loss_weight
        self.convs = fcn_convs(in_channels, channels, num_convs, 1, norm)
        self.dropout = nn.Dropout2d(dropout) if dropout > 0 else nn.Identity()
        self.predictor = Conv2d(channels, num_classes, kernel_size=1)
        nn.init.normal_(self.predictor.weight, std=0.01)
        nn.init.zeros_(self.predictor.bias)

    def forward(self, features):
        """Logits at the feature's resolution."""
        return self.predictor(self.dropout(self.convs(features[self.in_feature])))
