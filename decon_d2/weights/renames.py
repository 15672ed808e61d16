"""Other projects' names for the same tensors: torchvision ResNet <-> Detectron2 ResNet, and the
authors' (mmseg-style) FCN decoder -> Detectron2's ``FCNHead``.

Declarative tables, so that the map can be reviewed as a table (docs/convert.md shows the same
table in prose); the inverse table lets the converter's verification rebuild an independent
torchvision reference from the converted tensors.
"""
import re
from typing import Optional, Sequence, Tuple

__all__ = ["torchvision_to_d2", "d2_to_torchvision", "authors_fcn_to_d2"]

# torchvision ResNet -> Detectron2 ResNet (names relative to the ResNet). ``{res}`` is
# ``layer + 1``: torchvision's layer1..layer4 are Detectron2's res2..res5.
_TV_TO_D2: Sequence[Tuple[str, str]] = (
    (r"conv1\.weight", "stem.conv1.weight"),
    (r"bn1\.(?P<p>\w+)", "stem.conv1.norm.{p}"),
    (r"layer(?P<layer>\d)\.(?P<i>\d+)\.conv(?P<c>\d)\.weight", "res{res}.{i}.conv{c}.weight"),
    (r"layer(?P<layer>\d)\.(?P<i>\d+)\.bn(?P<c>\d)\.(?P<p>\w+)", "res{res}.{i}.conv{c}.norm.{p}"),
    (r"layer(?P<layer>\d)\.(?P<i>\d+)\.downsample\.0\.weight", "res{res}.{i}.shortcut.weight"),
    (r"layer(?P<layer>\d)\.(?P<i>\d+)\.downsample\.1\.(?P<p>\w+)",
     "res{res}.{i}.shortcut.norm.{p}"),
)
# The inverse table (used to build an independent torchvision reference for verification).
_D2_TO_TV: Sequence[Tuple[str, str]] = (
    (r"stem\.conv1\.weight", "conv1.weight"),
    (r"stem\.conv1\.norm\.(?P<p>\w+)", "bn1.{p}"),
    (r"res(?P<res>\d)\.(?P<i>\d+)\.conv(?P<c>\d)\.weight", "layer{layer}.{i}.conv{c}.weight"),
    (r"res(?P<res>\d)\.(?P<i>\d+)\.conv(?P<c>\d)\.norm\.(?P<p>\w+)", "layer{layer}.{i}.bn{c}.{p}"),
    (r"res(?P<res>\d)\.(?P<i>\d+)\.shortcut\.weight", "layer{layer}.{i}.downsample.0.weight"),
    (r"res(?P<res>\d)\.(?P<i>\d+)\.shortcut\.norm\.(?P<p>\w+)",
     "layer{layer}.{i}.downsample.1.{p}"),
)


def _apply(table, name: str) -> Optional[str]:
    for pattern, template in table:
        m = re.fullmatch(pattern, name)
        if m:
            g = m.groupdict()
            if "layer" in g:
                g["res"] = int(g["layer"]) + 1
            if "res" in g:
                g["layer"] = int(g["res"]) - 1
            return template.format(**g)
    return None


def torchvision_to_d2(name: str) -> Optional[str]:
    """``layer1.0.bn1.weight`` -> ``res2.0.conv1.norm.weight``; None if not a ResNet body key."""
    return _apply(_TV_TO_D2, name)


def d2_to_torchvision(name: str) -> Optional[str]:
    """Inverse of :func:`torchvision_to_d2` (names relative to ``bottom_up``)."""
    return _apply(_D2_TO_TV, name)


def authors_fcn_to_d2(name: str) -> Optional[str]:
    """The authors' mmseg-style FCN decoder key (``convs.{i}.conv.weight``, ``convs.{i}.bn.*``,
    after ``decoder_k.``) -> ``sem_seg_head.convs.{i}.weight`` / ``.norm.*``; None otherwise."""
    m = re.fullmatch(r"convs\.(\d+)\.(conv\.weight|bn\.\w+)", name)
    if not m:
        return None
    part = "weight" if m.group(2) == "conv.weight" else "norm." + m.group(2)[len("bn."):]
    return f"sem_seg_head.convs.{m.group(1)}.{part}"
