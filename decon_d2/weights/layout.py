"""Which project a torch state dict comes from, told by its keys (after an optional DDP
``module.`` prefix):

- ``ours``: a decon-d2 pre-training checkpoint, ``{student,teacher}.backbone.<Detectron2 backbone
  name>`` plus heads (docs/contracts.md); DenseCL-headed runs included;
- ``authors``: the DeCon/SlotCon ``module.encoder_k.*``, ``module.decoder_k.*`` file
  (docs/method.md §4.1): torchvision ResNet names, ``_k`` the teacher, ``_q`` the student;
- ``torchvision``: a plain ResNet state dict (``conv1.weight``, ``layer1.0...``, ``fc.*``).

Detectron2 ``.pkl`` files are the fourth layout, ``detectron2`` (``files.py`` reads them).
"""
from typing import Any, Dict, Mapping, Optional, Tuple

__all__ = ["LAYOUTS", "strip_module", "detect_layout"]

LAYOUTS = ("ours", "authors", "torchvision")


def strip_module(state_dict: Mapping[str, Any]) -> Dict[str, Any]:
    """The state dict without a DDP ``module.`` prefix (when every key has one)."""
    if state_dict and all(k.startswith("module.") for k in state_dict):
        return {k[len("module."):]: v for k, v in state_dict.items()}
    return dict(state_dict)


def detect_layout(state_dict: Mapping[str, Any]) -> Tuple[Optional[str], Dict[str, Any]]:
    """(layout or None, state dict without a DDP ``module.`` prefix)."""
    sd = strip_module(state_dict)
    keys = list(sd)
    if any(k.startswith(("teacher.backbone.", "student.backbone.")) for k in keys):
        return "ours", sd
    if any(k.startswith(("encoder_k.", "encoder_q.")) for k in keys):
        return "authors", sd
    if any(k.startswith(("layer1.", "conv1.")) for k in keys):
        return "torchvision", sd
    return None, sd
