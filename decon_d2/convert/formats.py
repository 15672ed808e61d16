"""Input layouts the converter accepts, and reading/writing files.

Three layouts, told apart by their keys (after an optional DDP ``module.`` prefix):

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
import argparse
import hashlib
import os
import pickle
from typing import Any, Dict, Mapping, NamedTuple, Optional, Tuple

import numpy as np
import torch

from ..utils.atomic import temp_path_beside
from . import rules

__all__ = ["Source", "Action", "ConversionError", "load_source", "detect_layout", "classify",
           "write_pkl_tmp", "LAYOUTS"]

LAYOUTS = ("ours", "authors", "torchvision")
# The authors' suffix of each branch: encoder_k / decoder_k is the teacher, _q the student.
_AUTHORS_TAG = {"teacher": "k", "student": "q"}
_AUTHORS_BRANCH = {t: b for b, t in _AUTHORS_TAG.items()}


class ConversionError(RuntimeError):
    """The conversion cannot produce a faithful file; carries the report (may be None)."""

    def __init__(self, message: str, report=None):
        super().__init__(message)
        self.report = report


class Source(NamedTuple):
    """A source checkpoint: its state dict plus what the file says about how it was trained."""

    state_dict: Dict[str, Any]
    meta: Dict[str, Any]  # decon_meta of our checkpoints; {} otherwise
    iteration: Optional[int]
    epoch: Optional[int]
    path: Optional[str] = None
    sha256: Optional[str] = None


class Action(NamedTuple):
    """What happens to one source key.

    kind: "encoder" (``name`` relative to the ResNet: ``stem.*``, ``res2.*``...), "decoder"
    (``name`` = the full target name: ``backbone.fpn_*`` or ``sem_seg_head.convs.*``),
    "other_branch", "drop" (``name`` = reason) or "unknown".
    """

    kind: str
    name: Optional[str] = None


def _sha256(path: str) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def load_source(path: str, *, unsafe_load: bool = False) -> Source:
    """Read a checkpoint file of any accepted layout.

    Uses ``torch.load(weights_only=True)`` (allowing the ``argparse.Namespace`` the authors'
    files store as ``args``), so a checkpoint cannot run code on load; ``unsafe_load`` lifts
    that for files that pickle other objects, and should only be used on trusted files.
    """
    try:
        if unsafe_load:
            obj = torch.load(path, map_location="cpu", weights_only=False)
        else:
            with torch.serialization.safe_globals([argparse.Namespace]):
                obj = torch.load(path, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as e:
        raise ConversionError(
            f"{path}: cannot be read with weights_only=True ({str(e).splitlines()[0]}). If the "
            "file is trusted, rerun with --unsafe-load."
        ) from e
    except (RuntimeError, EOFError, OSError) as e:
        raise ConversionError(f"{path}: not a readable PyTorch checkpoint ({e})") from e
    if not isinstance(obj, Mapping):
        raise ConversionError(f"{path}: expected a dict, got {type(obj).__name__}")
    wrapper = next((w for w in ("model", "state_dict") if isinstance(obj.get(w), Mapping)), None)
    state = obj[wrapper] if wrapper else obj
    state = {k: v for k, v in state.items() if isinstance(v, torch.Tensor)}
    meta = dict(obj.get("decon_meta") or {}) if wrapper else {}
    iteration = obj.get("iteration", meta.get("iteration")) if wrapper else None
    epoch = obj.get("epoch") if wrapper else None
    return Source(
        state_dict=state,
        meta=meta,
        iteration=int(iteration) if isinstance(iteration, (int, np.integer)) else None,
        epoch=int(epoch) if isinstance(epoch, (int, np.integer)) else None,
        path=path,
        sha256=_sha256(path),
    )


def _strip_module(state_dict: Mapping[str, Any]) -> Dict[str, Any]:
    if state_dict and all(k.startswith("module.") for k in state_dict):
        return {k[len("module."):]: v for k, v in state_dict.items()}
    return dict(state_dict)


def detect_layout(state_dict: Mapping[str, Any]) -> Tuple[Optional[str], Dict[str, Any]]:
    """(layout or None, state dict without a DDP ``module.`` prefix)."""
    sd = _strip_module(state_dict)
    keys = list(sd)
    if any(k.startswith(("teacher.backbone.", "student.backbone.")) for k in keys):
        return "ours", sd
    if any(k.startswith(("encoder_k.", "encoder_q.")) for k in keys):
        return "authors", sd
    if any(k.startswith(("layer1.", "conv1.")) for k in keys):
        return "torchvision", sd
    return None, sd


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


def write_pkl_tmp(output: str, model: Mapping[str, np.ndarray], meta: Mapping[str, Any]) -> str:
    """Write the Detectron2 pickle to a temporary ``.pkl`` beside ``output``; return its path.

    The caller verifies the temporary file and then ``os.replace``\\ s it onto ``output``, so a
    failed conversion or verification never leaves a file behind (or half-overwrites one).
    ``"__author__"`` makes Detectron2's DetectionCheckpointer take the dict as-is, and
    ``matching_heuristics: False`` turns off its suffix matching: names must be exact.
    """
    tmp = temp_path_beside(output, suffix=".tmp.pkl")
    payload = {
        "model": dict(model),
        "__author__": "decon-d2",
        "matching_heuristics": False,
        "decon_meta": dict(meta),
    }
    try:
        with open(tmp, "wb") as f:
            pickle.dump(payload, f, protocol=pickle.HIGHEST_PROTOCOL)
    except BaseException:
        os.unlink(tmp)
        raise
    return tmp
