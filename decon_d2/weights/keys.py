"""Where things live in a Detectron2 model's state dict: the ResNet, the decoders, a C4 head's res5.

One home for these names, because the converter writes them, continual pre-training and the
probe read them back and fine-tuning skips some of them: a Detectron2 model whose names change is
then fixed here once. Names are always full Detectron2 names
(``backbone.bottom_up.res2.0.conv1.weight``); the converter never matches suffixes
(docs/convert.md).
"""
import re
from typing import Callable, Iterable, Optional

__all__ = ["BOTTOM_UP", "FPN_LEVELS", "DECODER_PREFIXES", "DECODER_KIND_PREFIXES", "C4_RES5",
           "encoder_group", "is_encoder_key", "has_c4_head", "encoder_prefix",
           "encoder_placement", "encoder_relative", "decoder_kind", "bottom_up_name"]

#: the ResNet under an FPN (Mask R-CNN, Semantic FPN)
BOTTOM_UP = "backbone.bottom_up."
FPN_LEVELS = (2, 3, 4, 5)
#: target-key prefixes of each decoder a pre-training can export (FPN inside the backbone of
#: Mask R-CNN / Semantic FPN; FCN conv stack inside FCNHead) - also what MODEL.TRANSFER.DECODER
#: "random" leaves out of a load
DECODER_PREFIXES = ("backbone.fpn_lateral", "backbone.fpn_output", "sem_seg_head.convs.")
#: where each decoder kind lives in the target model
DECODER_KIND_PREFIXES = {"fpn": ("backbone.fpn_lateral", "backbone.fpn_output"),
                         "fcn": ("sem_seg_head.convs.",)}
#: where res5 lives in a C4 detector (Res5ROIHeads: the ROI head runs res5 on every region)
C4_RES5 = "roi_heads.res5."
#: a ResNet key of a target model, and its group (stem, res2..res5); a C4 model's res5 blocks
#: are ``roi_heads.res5.{0,1,2}.*`` (its extra norm ``roi_heads.res5.norm.*`` is not the ResNet's)
_ENCODER_NAME = re.compile(r"backbone\.(?:bottom_up\.)?(stem|res\d)\.|roi_heads\.(res5)\.\d+\.")
#: the ResNet of a ResNet-only model (the FCN segmentors): ``backbone.res2...``
_BARE_RESNET = re.compile(r"backbone\.((?:stem|res[2-5])\..*)")


def encoder_group(d2_name: str) -> Optional[str]:
    """The ResNet stage of a target key (``stem``, ``res2`` .. ``res5``), None off the ResNet."""
    m = _ENCODER_NAME.match(d2_name)
    return (m.group(1) or m.group(2)) if m else None


def is_encoder_key(d2_name: str) -> bool:
    """A target key of the ResNet (under ``backbone.bottom_up.``, ``backbone.`` or, for res5 of
    a C4 detector, ``roi_heads.res5.``)."""
    return encoder_group(d2_name) is not None


def has_c4_head(target: Iterable[str]) -> bool:
    """The target is a C4 detector: res5 inside the ROI head, the backbone is stem..res4."""
    return any(k.startswith(C4_RES5) for k in target)


def encoder_prefix(target: Iterable[str]) -> str:
    """Prefix of the ResNet's keys in a target model: ``backbone.bottom_up.`` under an FPN,
    ``backbone.`` when the ResNet is the backbone itself (the FCN segmentation models and the
    stem..res4 of a C4 detector, whose res5 is under :data:`C4_RES5`)."""
    return BOTTOM_UP if any(k.startswith(BOTTOM_UP) for k in target) else "backbone."


def encoder_placement(target) -> Callable[[str], str]:
    """``name relative to the ResNet -> target key`` for ``target``: the encoder prefix, except
    res5 of a C4 detector, which goes to ``roi_heads.res5.``."""
    prefix, c4 = encoder_prefix(target), has_c4_head(target)

    def place(name: str) -> str:
        return "roi_heads." + name if c4 and name.startswith("res5.") else prefix + name

    return place


def encoder_relative(d2_name: str) -> str:
    """Inverse of :func:`encoder_placement`: ``roi_heads.res5.0.conv1.weight`` and
    ``backbone.bottom_up.res5.0.conv1.weight`` -> ``res5.0.conv1.weight``."""
    for prefix in (BOTTOM_UP, "roi_heads.", "backbone."):
        if d2_name.startswith(prefix):
            return d2_name[len(prefix):]
    return d2_name


def decoder_kind(d2_name: str) -> Optional[str]:
    """"fpn", "fcn" or None for a target key."""
    for kind, prefixes in DECODER_KIND_PREFIXES.items():
        if d2_name.startswith(prefixes):
            return kind
    return None


def bottom_up_name(d2_name: str) -> str:
    """A ResNet-only model's encoder key (``backbone.res2...``) under the name an FPN model gives
    it (``backbone.bottom_up.res2...``); any other key unchanged."""
    m = _BARE_RESNET.match(d2_name)
    return BOTTOM_UP + m.group(1) if m else d2_name
