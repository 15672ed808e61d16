"""What happens to each key of the input layouts the converter accepts.

Reading files, telling the layouts apart (``detect_layout``) and writing the ``.pkl`` live in
``decon_d2/weights``; the three layouts, by their keys (after an optional DDP ``module.`` prefix):

- ``ours``: a decon-d2 ``DetectionCheckpointer`` file ``{"model", "iteration", "decon_meta", ...}``
  whose model keys are ``{student,teacher}.backbone.<Detectron2 backbone name>`` plus heads
  (docs/contracts.md). Backbone names are already Detectron2's: only the prefix changes.
- ``authors``: the DeCon/SlotCon ``{"model": {"module.encoder_k.*", "module.decoder_k.*", ...},
  "args", "epoch", ...}`` file (docs/method.md §4.1). Encoder keys are torchvision ResNet names,
  decoder keys Detectron2 FPN names; ``_k`` is the teacher, ``_q`` the student.
- ``torchvision``: a plain ResNet-50 state dict (``conv1.weight``, ``layer1.0...``, ``fc.*``).

:func:`classify` turns one source key into what happens to it, so that the conversion itself
(``core.py``) is layout-agnostic.
"""
from typing import NamedTuple, Optional

from ..weights import LAYOUTS, detect_layout
from . import rules

__all__ = ["Action", "ConversionError", "detect_layout", "classify", "LAYOUTS"]

# The authors' suffix of each branch: encoder_k / decoder_k is the teacher, _q the student.
_AUTHORS_TAG = {"teacher": "k", "student": "q"}
_AUTHORS_BRANCH = {t: b for b, t in _AUTHORS_TAG.items()}


class ConversionError(RuntimeError):
    """The conversion cannot produce a faithful file; carries the report (may be None)."""

    def __init__(self, message: str, report=None):
        super().__init__(message)
        self.report = report


class Action(NamedTuple):
    """What happens to one source key.

    kind: "encoder" (``name`` relative to the ResNet: ``stem.*``, ``res2.*``...), "decoder"
    (``name`` = the full target name: ``backbone.fpn_*`` or ``sem_seg_head.convs.*``),
    "other_branch", "drop" (``name`` = reason) or "unknown".
    """

    kind: str
    name: Optional[str] = None


def _classify_torchvision_body(name: str) -> Action:
    if name.startswith("fc."):
        return Action("drop", "ImageNet classifier (fc), not part of the detection backbone")
    d2 = rules.torchvision_to_d2(name)
    return Action("encoder", d2) if d2 else Action("unknown")


def classify(layout: str, key: str, branch: str) -> Action:
    """Decide what happens to ``key`` (``module.`` already stripped) when exporting ``branch``."""
    if layout == "torchvision":
        return _classify_torchvision_body(key)
    if layout == "ours":
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
        reason = rules.drop_reason(key) if key.startswith(("teacher.", "student.")) else None
        return Action("drop", reason) if reason else Action("unknown")
    if layout == "authors":
        tag = _AUTHORS_TAG[branch]
        for part, t in (("encoder", "k"), ("encoder", "q"), ("decoder", "k"), ("decoder", "q")):
            prefix = f"{part}_{t}."
            if not key.startswith(prefix):
                continue
            if t != tag:
                return Action("other_branch", _AUTHORS_BRANCH[t])
            name = key[len(prefix):]
            if part == "encoder":
                return _classify_torchvision_body(name)
            if name.startswith(("fpn_lateral", "fpn_output")):
                return Action("decoder", "backbone." + name)
            fcn = rules.authors_fcn_to_d2(name)
            return Action("decoder", fcn) if fcn else Action("unknown")
        reason = rules.drop_reason(key)
        return Action("drop", reason) if reason else Action("unknown")
    raise ValueError(f"unknown layout {layout!r}")
