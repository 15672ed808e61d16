"""The conventions of ResNets whose files record none, known from where they come from.

torchvision-layout ResNets (torchvision, the SlotCon/DeCon authors) see RGB input normalised
with ImageNet statistics and stride in the 3x3 conv (v1.5); Caffe2/MSRA ResNets (Detectron2's
ImageNet-pretrained model zoo) see BGR without std and stride in the 1x1 conv.
"""
import copy
import dataclasses
from typing import Optional

from ..conventions import IMAGENET_PIXEL_MEAN, IMAGENET_PIXEL_STD, Conventions

__all__ = ["TORCHVISION_CONVENTIONS", "MSRA_CONVENTIONS", "layout_conventions"]

#: torchvision-layout ResNets (torchvision, SlotCon/DeCon): RGB, ImageNet statistics, v1.5
TORCHVISION_CONVENTIONS = Conventions("RGB", list(IMAGENET_PIXEL_MEAN), list(IMAGENET_PIXEL_STD),
                                      False)
#: Caffe2/MSRA ResNets (Detectron2's ImageNetPretrained/MSRA): BGR, no std, stride in the 1x1
MSRA_CONVENTIONS = Conventions("BGR", [103.530, 116.280, 123.675], [1.0, 1.0, 1.0], True)


def layout_conventions(layout: Optional[str]) -> Optional[Conventions]:
    """The conventions of a torch file of ``layout`` that records none: the authors' ResNet and
    FPN trained with SyncBN, a torchvision ResNet with BN and no FPN; None when not known
    (``ours`` records its own, ``decon_d2.weights.PretrainRecord``)."""
    norms = {"authors": ("SyncBN", "SyncBN"), "torchvision": ("BN", None)}.get(layout)
    if norms is None:
        return None
    return dataclasses.replace(copy.deepcopy(TORCHVISION_CONVENTIONS), norm=norms[0],
                               fpn_norm=norms[1])
