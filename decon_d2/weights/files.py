"""Reading any weights file the project knows, into one typed :class:`WeightsFile`.

Two readers, one per file format:

- :func:`read_torch`: a torch file (``.pth``/``.pt``/``.pth.tar``) of any torch layout
  (``layout.py``): a decon-d2 pre-training checkpoint ``{"model", "iteration", "decon_meta",
  ...}``, the authors'/SlotCon file, a torchvision ResNet. ``torch.load(weights_only=True)``
  (allowing the ``argparse.Namespace`` the authors' files store as ``args``), so that a file
  cannot run code on load; ``unsafe_load`` lifts that, for trusted files that pickle objects.
- :func:`read_pkl`: a Detectron2 ``.pkl`` as Detectron2 reads it: a ``{"model",
  "__author__"}`` dict (a ``decon_d2.convert`` output with its record, a torchvision ResNet
  converted by Detectron2's script, a model-zoo detector), or a Caffe2/MSRA blob file whose
  names Detectron2's ``convert_c2_detectron_names`` renames.

:func:`read_weights` picks the reader by suffix. Each file says, where it can be known, the input
conventions its ResNet was trained with (``decon_d2.conventions.check_conventions``).
"""
import argparse
import dataclasses
import hashlib
import pickle
from typing import Dict, Mapping, NamedTuple, Optional, Union

import numpy as np
import torch
from detectron2.checkpoint.c2_model_loading import convert_c2_detectron_names
from detectron2.utils.file_io import PathManager

from ..conventions import Conventions
from .known import MSRA_CONVENTIONS, TORCHVISION_CONVENTIONS, layout_conventions
from .layout import detect_layout
from .record import ConvertedRecord, PretrainRecord

__all__ = ["WeightsFile", "WeightsReadError", "read_torch", "read_pkl", "read_weights"]

_ORIGINS = {"authors": "authors'/SlotCon checkpoint", "torchvision": "torchvision ResNet",
            None: "unrecognised torch file"}


class WeightsReadError(RuntimeError):
    """The file cannot be read as weights (not a checkpoint, pickles objects, ...)."""


class WeightsFile(NamedTuple):
    """A weights file, read: its tensors and what it says about how they were made."""

    state_dict: Dict[str, torch.Tensor]  # without a DDP ``module.`` prefix
    layout: Optional[str]  # ours, authors, torchvision, detectron2 (None: not recognised)
    record: Union[PretrainRecord, ConvertedRecord, None]  # the file's decon_meta, if it has one
    conventions: Optional[Conventions]  # None: unknown (the config cannot be checked)
    origin: str  # what the file is, for reports
    iteration: Optional[int] = None
    epoch: Optional[int] = None  # the authors' files count epochs
    path: Optional[str] = None
    sha256: Optional[str] = None
    author: Optional[str] = None  # a .pkl's ``__author__`` (None: not in the file)
    matching_heuristics: bool = True  # a .pkl lets Detectron2 match names by suffix

    @property
    def export_branch(self) -> Optional[str]:
        """The branch a pre-training checkpoint says to export (None for other files)."""
        return self.record.export_branch if isinstance(self.record, PretrainRecord) else None

    @property
    def pretrain_record(self) -> PretrainRecord:
        """The pre-training record to convert with, at the file's iteration (a record of
        defaults, every key ``missing``, for files without one)."""
        record = self.record if isinstance(self.record, PretrainRecord) else \
            PretrainRecord.from_dict(None)
        if self.iteration is None:
            return record
        return dataclasses.replace(record, iteration=self.iteration)


def sha256_of(path: str) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def _int(value) -> Optional[int]:
    return int(value) if isinstance(value, (int, np.integer)) else None


def read_torch(path: str, *, unsafe_load: bool = False) -> WeightsFile:
    """Read a torch file of any torch layout (see the module docstring)."""
    try:
        if unsafe_load:
            obj = torch.load(path, map_location="cpu", weights_only=False)
        else:
            with torch.serialization.safe_globals([argparse.Namespace]):
                obj = torch.load(path, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as e:
        raise WeightsReadError(
            f"{path}: cannot be read with weights_only=True ({str(e).splitlines()[0]}). If the "
            "file is trusted, rerun with --unsafe-load."
        ) from e
    except (RuntimeError, EOFError, OSError) as e:
        raise WeightsReadError(f"{path}: not a readable PyTorch checkpoint ({e})") from e
    if not isinstance(obj, Mapping):
        raise WeightsReadError(f"{path}: expected a dict, got {type(obj).__name__}")
    wrapper = next((w for w in ("model", "state_dict") if isinstance(obj.get(w), Mapping)), None)
    state = obj[wrapper] if wrapper else obj
    state = {k: v for k, v in state.items() if isinstance(v, torch.Tensor)}
    layout, state = detect_layout(state)
    record = PretrainRecord.from_dict(obj.get("decon_meta") if wrapper else None)
    iteration = _int(obj.get("iteration", record.iteration)) if wrapper else None
    epoch = _int(obj.get("epoch")) if wrapper else None
    if layout == "ours":
        conventions = record.conventions
        origin = (f"decon-d2 checkpoint (variant {record.variant or 'unknown'}, "
                  f"iteration {iteration})")
    else:
        record, conventions, origin = None, layout_conventions(layout), _ORIGINS[layout]
    return WeightsFile(state, layout, record, conventions, origin, iteration, epoch, path,
                       sha256_of(path))


def read_pkl(path: str) -> WeightsFile:
    """Read a Detectron2 ``.pkl`` (see the module docstring); layout ``detectron2``."""
    try:
        with PathManager.open(path, "rb") as f:
            data = pickle.load(f, encoding="latin1")
    except (pickle.UnpicklingError, EOFError, OSError, AttributeError, ImportError) as e:
        raise WeightsReadError(f"{path}: not a readable Detectron2 .pkl ({e})") from e
    if not isinstance(data, dict):
        raise WeightsReadError(f"{path}: not a Detectron2 weights pickle")
    if "model" in data and "__author__" in data:
        author, state, meta = data["__author__"], data["model"], data.get("decon_meta")
    else:  # Caffe2 / Detectron1 model zoo, as DetectionCheckpointer reads it
        author, state, meta = None, data.get("blobs", data), None
    if not isinstance(state, dict):
        raise WeightsReadError(f"{path}: not a Detectron2 weights pickle")
    tensors = {k: torch.as_tensor(np.asarray(v)) for k, v in state.items()
               if isinstance(v, (np.ndarray, torch.Tensor)) and not k.endswith("_momentum")}
    record = ConvertedRecord.from_dict(meta) if meta else None
    if author is None:
        tensors, _ = convert_c2_detectron_names(tensors)
        conventions = MSRA_CONVENTIONS
    elif record is not None:
        conventions = record.conventions
    else:
        conventions = TORCHVISION_CONVENTIONS if author == "torchvision" else None
    return WeightsFile(tensors, "detectron2", record, conventions,
                       f"Detectron2 .pkl by {author or 'Caffe2'!r}",
                       _int(record.iteration) if record else None,
                       _int(record.epoch) if record else None, path, author=author,
                       matching_heuristics=bool(data.get("matching_heuristics", True)))


def read_weights(path: str, *, unsafe_load: bool = False) -> WeightsFile:
    """Read ``path`` (a local file or a URL Detectron2's PathManager resolves): ``.pkl`` files
    as Detectron2 pickles, anything else as a torch file."""
    local = PathManager.get_local_path(path)
    if local.endswith(".pkl"):
        return read_pkl(local)
    return read_torch(local, unsafe_load=unsafe_load)
