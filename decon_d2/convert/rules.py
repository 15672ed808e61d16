"""What maps to what: torchvision ResNet names <-> Detectron2 names, target key sets, drop reasons.

Everything here is declarative so that the mapping can be read (and reviewed) as a table; see
``docs/convert.md`` for the same table in prose. Two design choices:

- **Exact names, no suffix matching.** Every converted key is written with its full Detectron2
  name (``backbone.bottom_up.res2.0.conv1.weight``), so Detectron2 loads the file with
  ``matching_heuristics: False`` and a wrong name is an error here, not a silent random init
  later (the failure mode of the SlotCon/MoCo scripts, docs/method.md §7.9).
- **The target key set comes from Detectron2's own builder.** Instead of a hand list, the
  model of the fine-tune config (Mask R-CNN R50-FPN by default; Faster R-CNN R50-C4:
  ``c4_target.py``) is built on the ``meta`` device (no memory, ~0.1 s)
  and its ``state_dict()`` names and shapes are the ground truth; a Detectron2 upgrade that
  renames a module is then caught by the shape/unknown-key checks.
"""
import functools
import re
from typing import Dict, Iterable, List, Optional, Sequence, Tuple

import torch

from ..conventions import IMAGENET_PIXEL_MEAN, IMAGENET_PIXEL_STD

__all__ = [
    "IMAGENET_PIXEL_MEAN",
    "IMAGENET_PIXEL_STD",
    "BOTTOM_UP",
    "torchvision_to_d2",
    "d2_to_torchvision",
    "default_finetune_cfg",
    "target_shapes",
    "converted_group",
    "target_group",
    "drop_reason",
    "FPN_LEVELS",
    "DECODER_PREFIXES",
    "encoder_prefix",
    "decoder_kind",
    "is_encoder_key",
    "encoder_placement",
    "encoder_relative",
    "has_c4_head",
    "C4_RES5",
    "authors_fcn_to_d2",
]

# torchvision's ImageNet statistics (``conventions.py``) are the input convention of every
# pre-training this converter accepts (ours, SlotCon/DeCon, torchvision).
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


def _encoder_match(d2_name: str) -> Optional[str]:
    m = _ENCODER_NAME.match(d2_name)
    return (m.group(1) or m.group(2)) if m else None


def has_c4_head(target) -> bool:
    """The target is a C4 detector: res5 inside the ROI head, the backbone is stem..res4."""
    return any(k.startswith(C4_RES5) for k in target)


def encoder_prefix(target) -> str:
    """Prefix of the ResNet's keys in a target model: ``backbone.bottom_up.`` under an FPN,
    ``backbone.`` when the ResNet is the backbone itself (the FCN segmentation models and the
    stem..res4 of a C4 detector, whose res5 is under :data:`C4_RES5`)."""
    return BOTTOM_UP if any(k.startswith(BOTTOM_UP) for k in target) else "backbone."


def encoder_placement(target):
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


# Source keys that are deliberately not exported, and why. Matched as substrings of the key
# after the ``module.`` prefix is removed, first match wins. Covers our layout (contracts.md:
# every non-backbone key contains projector/predictor/prototypes/center/queue) and the authors' /
# SlotCon layout (docs/method.md §4.1: projector_*, dec_projector_*, grouping_*.slot_embed,
# predictor_slot, center, center_dec*).
_DROP_REASONS: Sequence[Tuple[str, str]] = (
    ("predictor", "slot predictor (student-only pre-training head)"),
    ("projector", "projection head (pre-training only)"),
    ("prototypes", "semantic-grouping prototypes (pre-training only)"),
    ("grouping", "semantic-grouping prototypes (pre-training only)"),
    ("center", "self-distillation center buffer (pre-training only)"),
    ("queue", "DenseCL negative-key queue (pre-training only)"),
)


def authors_fcn_to_d2(name: str) -> Optional[str]:
    """The authors' mmseg-style FCN decoder key (``convs.{i}.conv.weight``, ``convs.{i}.bn.*``,
    after ``decoder_k.``) -> ``sem_seg_head.convs.{i}.weight`` / ``.norm.*``; None otherwise."""
    m = re.fullmatch(r"convs\.(\d+)\.(conv\.weight|bn\.\w+)", name)
    if not m:
        return None
    part = "weight" if m.group(2) == "conv.weight" else "norm." + m.group(2)[len("bn."):]
    return f"sem_seg_head.convs.{m.group(1)}.{part}"


def is_encoder_key(d2_name: str) -> bool:
    """A target key of the ResNet (under ``backbone.bottom_up.``, ``backbone.`` or, for res5 of
    a C4 detector, ``roi_heads.res5.``)."""
    return _encoder_match(d2_name) is not None


def drop_reason(name: str) -> Optional[str]:
    """Reason a pre-training-only key is dropped, or None if it is not a known head key."""
    for needle, reason in _DROP_REASONS:
        if needle in name:
            return reason
    return None


def ssl_model_zoo_cfg(base_yaml, pixel_mean=None, pixel_std=None, input_format="RGB",
                      stride_in_1x1=False):
    """A model-zoo base config with the SSL transfer overlay: ResNet-50, SyncBN, FREEZE_AT 0,
    the pre-training's input conventions, no weights, CPU (the model the converter targets)."""
    from detectron2 import model_zoo
    from detectron2.config import get_cfg

    from ..config import add_decon_config

    cfg = add_decon_config(get_cfg())
    cfg.merge_from_file(model_zoo.get_config_file(base_yaml))
    cfg.MODEL.RESNETS.DEPTH = 50
    cfg.MODEL.RESNETS.NORM = "SyncBN"
    cfg.MODEL.RESNETS.STRIDE_IN_1X1 = bool(stride_in_1x1)
    cfg.MODEL.BACKBONE.FREEZE_AT = 0
    cfg.MODEL.PIXEL_MEAN = list(pixel_mean or IMAGENET_PIXEL_MEAN)
    cfg.MODEL.PIXEL_STD = list(pixel_std or IMAGENET_PIXEL_STD)
    cfg.INPUT.FORMAT = input_format
    cfg.MODEL.WEIGHTS = ""
    cfg.MODEL.DEVICE = "cpu"
    return cfg


def default_finetune_cfg(pixel_mean=None, pixel_std=None, input_format="RGB", stride_in_1x1=False):
    """The fine-tune config used when none is given: model-zoo Base-RCNN-FPN + the SSL overlay.

    Mirrors the SlotCon/DeCon transfer config (docs/method.md §4.4): Mask R-CNN R50-FPN, SyncBN in
    the backbone and FPN, FREEZE_AT 0, RGB input with the pre-training's pixel statistics and
    STRIDE_IN_1X1 False. Built in code so that the converter works from an installed package;
    pass ``--config`` to check the config you will actually fine-tune with.
    """
    cfg = ssl_model_zoo_cfg("Base-RCNN-FPN.yaml", pixel_mean, pixel_std, input_format,
                            stride_in_1x1)
    cfg.MODEL.MASK_ON = True
    cfg.MODEL.FPN.NORM = "SyncBN"
    return cfg


@functools.lru_cache(maxsize=8)
def _target_shapes_from_dump(cfg_dump: str) -> Dict[str, Tuple[int, ...]]:
    from detectron2.config import CfgNode
    from detectron2.modeling import build_model

    from .. import modeling  # noqa: F401  (registers FCNHead, SlidingWindowSegmentor)
    from ..modeling import res5_extra_norm  # noqa: F401  (registers Res5ROIHeadsExtraNorm)

    cfg = CfgNode.load_cfg(cfg_dump)
    cfg.defrost()
    cfg.MODEL.DEVICE = "meta"
    cfg.MODEL.WEIGHTS = ""
    with torch.device("meta"):
        model = build_model(cfg)
    return {k: tuple(v.shape) for k, v in model.state_dict().items()}


def target_shapes(cfg) -> Dict[str, Tuple[int, ...]]:
    """Names and shapes of every state-dict entry of the model ``cfg`` builds (no memory used)."""
    return dict(_target_shapes_from_dump(cfg.dump()))


def converted_group(d2_name: str) -> str:
    """Report group of a converted key: stem, res2..res5, fpn_lateral, fpn_output, fcn_head."""
    group = _encoder_match(d2_name)
    if group:
        return group
    if d2_name.startswith("sem_seg_head.convs."):
        return "fcn_head"
    m = re.match(r"backbone\.(fpn_lateral|fpn_output)\d", d2_name)
    return m.group(1) if m else "other"


def target_group(d2_name: str) -> str:
    """Report group of a target key that the conversion does not provide."""
    prefixes = (
        ("proposal_generator.", "rpn"),
        (C4_RES5 + "norm.", "roi_res5_extra_norm"),
        ("roi_heads.box_", "roi_box_head"),
        ("roi_heads.mask_", "roi_mask_head"),
        ("roi_heads.keypoint_", "roi_keypoint_head"),
        ("backbone.fpn_output", "fpn_output (not pre-trained)"),
        ("backbone.fpn_lateral", "fpn_lateral (not pre-trained)"),
        ("backbone.bottom_up.", "encoder (not pre-trained)"),
        ("sem_seg_head.convs.", "fcn_head (not pre-trained)"),
        ("sem_seg_head.predictor.", "sem_seg classifier"),
        ("sem_seg_head.", "sem_seg_head"),
    )
    for prefix, group in prefixes:
        if d2_name.startswith(prefix):
            return group
    if is_encoder_key(d2_name):
        return "encoder (not pre-trained)"
    return "other"


# Target groups that are legitimately absent from any pre-trained backbone: the task heads
# (detection; segmentation: Semantic FPN's head, the classifier). verify.py adds the decoder
# groups an export without that decoder leaves for fine-tuning.
HEAD_GROUPS = ("rpn", "roi_box_head", "roi_mask_head", "roi_keypoint_head", "sem_seg_head",
               "sem_seg classifier", "roi_res5_extra_norm")


def group_keys(names: Iterable[str], grouper) -> Dict[str, List[str]]:
    """``{group: sorted names}`` for report tables."""
    out: Dict[str, List[str]] = {}
    for n in sorted(names):
        out.setdefault(grouper(n), []).append(n)
    return out
