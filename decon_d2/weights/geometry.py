"""The network geometry a weights file implies: its ResNet depth and FPN width.

Files record neither (not ours, nor the authors' or torchvision's), and the tensors tell both
exactly: the depth from the blocks per stage and whether a block has a third conv (bottleneck)
or not (the basic block of ResNet-18/34), the FPN width from a lateral conv's output channels.
The converter, the fine-tuning pre-flight and the probe build their target models from this, so
a ResNet-18 study run converts and loads like a ResNet-50.
"""
import re
from typing import Iterable, Mapping, Optional

__all__ = ["DEPTHS", "ResNetDepthError", "resnet_depth", "set_resnet_depth", "fpn_channels"]

#: (bottleneck, blocks in res2..res5) -> depth
DEPTHS = {(True, (3, 4, 6, 3)): 50, (True, (3, 4, 23, 3)): 101, (True, (3, 8, 36, 3)): 152,
          (False, (2, 2, 2, 2)): 18, (False, (3, 4, 6, 3)): 34}
# Detectron2 (res2..res5, any prefix) and torchvision / authors (layer1..layer4) block names
_BLOCK = re.compile(r"(?:res(\d)|layer(\d))\.(\d+)\.conv(\d)\.")
# an FPN lateral conv in our, Detectron2's or the authors' names
_LATERAL = re.compile(r"fpn_lateral\d\.weight$|lateral_convs?\.\d+\.(?:conv\.)?weight$")


class ResNetDepthError(ValueError):
    """The names are not those of a known ResNet (18/34/50/101/152)."""


def resnet_depth(keys: Iterable[str], default: Optional[int] = None) -> int:
    """Depth of the ResNet whose tensor names are ``keys`` (of one branch or of several: the
    student and teacher of a checkpoint have the same blocks); names of no known ResNet (a
    partial or foreign file) give ``default``, or raise when it is None."""
    blocks, bottleneck = {}, False
    for k in keys:
        m = _BLOCK.search(k)
        if m:
            stage = int(m.group(1)) if m.group(1) else int(m.group(2)) + 1
            blocks[stage] = max(blocks.get(stage, 0), int(m.group(3)) + 1)
            bottleneck |= m.group(4) == "3"
    counts = tuple(blocks.get(s, 0) for s in (2, 3, 4, 5))
    if (bottleneck, counts) not in DEPTHS:
        if default is not None:
            return default
        raise ResNetDepthError(f"cannot tell the ResNet depth from the weights' block names "
                               f"(blocks per stage {counts}, bottleneck {bottleneck})")
    return DEPTHS[(bottleneck, counts)]


def set_resnet_depth(cfg, depth: int):
    """Set ``MODEL.RESNETS.DEPTH`` and the res2 width that goes with it (64 for the basic
    block, Detectron2 refuses anything else; 256 for a bottleneck) on a mutable ``cfg``."""
    cfg.MODEL.RESNETS.DEPTH = int(depth)
    cfg.MODEL.RESNETS.RES2_OUT_CHANNELS = 64 if depth in (18, 34) else 256
    return cfg


def fpn_channels(state: Mapping[str, object]) -> Optional[int]:
    """Output channels of the FPN in ``state`` (tensors or shapes by name), None without one."""
    for k, v in state.items():
        if _LATERAL.search(k):
            shape = getattr(v, "shape", v)
            return int(shape[0])
    return None
