"""What one key of a weights file is: an encoder or decoder tensor (and its Detectron2 name), the
other branch's, a pre-training-only head (dropped, with the reason) or unknown.

The converter (checkpoint -> fine-tuning names) and continual pre-training (any file -> a new
run's student) both ask :func:`classify`, so there is one rule set for both directions. The
layouts (``layout.py`` tells them apart; keys after an optional DDP ``module.`` prefix):

- ``ours``: ``{student,teacher}.backbone.<Detectron2 backbone name>`` plus heads
  (docs/contracts.md). Backbone names are already Detectron2's: only the prefix changes.
- ``authors``: the DeCon/SlotCon ``encoder_{k,q}.*`` (torchvision ResNet names),
  ``decoder_{k,q}.*`` (Detectron2 FPN names, or the mmseg-style FCN); ``_k`` is the teacher,
  ``_q`` the student (docs/method.md §4.1).
- ``torchvision``: a plain ResNet state dict (``conv1.weight``, ``layer1.0...``, ``fc.*``).
- ``detectron2``: a ``.pkl`` or model in Detectron2 names (a converted file, a model-zoo detector,
  bare ResNet names of Detectron2's ImageNet models).
"""
import re
from typing import NamedTuple, Optional, Sequence, Tuple

from .keys import BOTTOM_UP, DECODER_PREFIXES, bottom_up_name
from .renames import authors_fcn_to_d2, torchvision_to_d2

__all__ = ["Action", "classify", "drop_reason", "pretrain_key"]

# The authors' suffix of each branch: encoder_k / decoder_k is the teacher, _q the student.
_AUTHORS_TAG = {"teacher": "k", "student": "q"}
_AUTHORS_BRANCH = {t: b for b, t in _AUTHORS_TAG.items()}

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
# a ResNet key without any prefix (Detectron2's ImageNet-pretrained ResNets)
_RESNET_ONLY = re.compile(r"(stem|res[2-5])\.")


class Action(NamedTuple):
    """What happens to one source key.

    kind: "encoder" (``name`` relative to the ResNet: ``stem.*``, ``res2.*``...), "decoder"
    (``name`` = the full target name: ``backbone.fpn_*`` or ``sem_seg_head.convs.*``),
    "other_branch" (``name`` = that branch), "drop" (``name`` = reason) or "unknown".
    """

    kind: str
    name: Optional[str] = None


def drop_reason(name: str) -> Optional[str]:
    """Reason a pre-training-only key is dropped, or None if it is not a known head key."""
    for needle, reason in _DROP_REASONS:
        if needle in name:
            return reason
    return None


def _torchvision(name: str) -> Action:
    if name.startswith("fc."):
        return Action("drop", "ImageNet classifier (fc), not part of the detection backbone")
    d2 = torchvision_to_d2(name)
    return Action("encoder", d2) if d2 else Action("unknown")


def _ours(key: str, branch: str) -> Action:
    for b in ("teacher", "student"):
        prefix = f"{b}.backbone."
        if key.startswith(prefix):
            if b != branch:
                return Action("other_branch", b)
            name = key[len(prefix):]
            if name.startswith("bottom_up."):
                return Action("encoder", name[len("bottom_up."):])
            if name.startswith(("fpn_lateral", "fpn_output")):
                return Action("decoder", "backbone." + name)
            if name.startswith("fcn.convs."):  # DeConFCN -> FCNHead (modeling/fcn.py)
                return Action("decoder", "sem_seg_head." + name[len("fcn."):])
            return Action("unknown")
    reason = drop_reason(key) if key.startswith(("teacher.", "student.")) else None
    return Action("drop", reason) if reason else Action("unknown")


def _authors(key: str, branch: str) -> Action:
    tag = _AUTHORS_TAG[branch]
    for part, t in (("encoder", "k"), ("encoder", "q"), ("decoder", "k"), ("decoder", "q")):
        prefix = f"{part}_{t}."
        if not key.startswith(prefix):
            continue
        if t != tag:
            return Action("other_branch", _AUTHORS_BRANCH[t])
        name = key[len(prefix):]
        if part == "encoder":
            return _torchvision(name)
        if name.startswith(("fpn_lateral", "fpn_output")):
            return Action("decoder", "backbone." + name)
        fcn = authors_fcn_to_d2(name)
        return Action("decoder", fcn) if fcn else Action("unknown")
    reason = drop_reason(key)
    return Action("drop", reason) if reason else Action("unknown")


def _detectron2(key: str) -> Action:
    """Mask R-CNN names, a ResNet-only model's (``backbone.res2...``) or bare ResNet names."""
    name = bottom_up_name(key)
    if name.startswith(BOTTOM_UP):
        return Action("encoder", name[len(BOTTOM_UP):])
    if key.startswith(DECODER_PREFIXES):
        return Action("decoder", key)  # already the fine-tuning name
    if _RESNET_ONLY.match(key):
        return Action("encoder", key)
    if key.startswith(("proposal_generator.", "roi_heads.", "sem_seg_head.")):
        return Action("drop", "detector head (fine-tuning only)")
    if key.startswith(("linear.", "fc")):
        return Action("drop", "ImageNet classifier, not part of the backbone")
    return Action("unknown")


def classify(layout: str, key: str, branch: str) -> Action:
    """Decide what happens to ``key`` (``module.`` already stripped) of a ``layout`` file when
    taking ``branch`` ("teacher"/"student"; ignored by the one-network layouts)."""
    if layout == "torchvision":
        return _torchvision(key)
    if layout == "ours":
        return _ours(key, branch)
    if layout == "authors":
        return _authors(key, branch)
    if layout == "detectron2":
        return _detectron2(key)
    raise ValueError(f"unknown layout {layout!r}")


def pretrain_key(action: Action, branch: str = "student") -> str:
    """Our checkpoint's key for an "encoder" or "decoder" ``action``, the inverse of the ``ours``
    rules: the ResNet under ``backbone.bottom_up``, the FPN under ``backbone``, the FCN decoder
    (``sem_seg_head.convs`` when fine-tuned) under ``backbone.fcn.convs``."""
    if action.kind == "encoder":
        return f"{branch}.backbone.bottom_up.{action.name}"
    if action.name.startswith("sem_seg_head.convs."):
        return f"{branch}.backbone.fcn.{action.name[len('sem_seg_head.'):]}"
    return f"{branch}.{action.name}"
