"""Reading a ``MODEL.WEIGHTS`` file of any layout a DeCon run may start from.

Torch files go through the converter's reader and layout detection (``convert.formats``:
``load_source`` with ``weights_only=True``, ``detect_layout``): a decon-d2 checkpoint
("ours"), the authors'/SlotCon one ("authors"), or a torchvision ResNet ("torchvision").
Detectron2 ``.pkl`` files are read as Detectron2 reads them: a model-zoo style
``{"model": ..., "__author__": ...}`` dict (a converted decon-d2 file, a torchvision ResNet
converted by Detectron2's script, a model-zoo detector), or otherwise a Caffe2/MSRA file whose
names Detectron2's ``convert_c2_detectron_names`` renames ("detectron2" layout either way).

Each file also says, where it can be known, the input conventions its ResNet was trained with;
the run's config must match them (``conventions.check_conventions``).
"""
import pickle
from typing import Any, Dict, NamedTuple, Optional

import numpy as np
import torch
from detectron2.checkpoint.c2_model_loading import convert_c2_detectron_names
from detectron2.utils.file_io import PathManager

from decon_d2.conventions import IMAGENET_PIXEL_MEAN, IMAGENET_PIXEL_STD
from decon_d2.convert.formats import detect_layout, load_source

__all__ = ["WeightsFile", "read_weights", "TORCHVISION_CONVENTIONS", "MSRA_CONVENTIONS"]

#: torchvision-layout ResNets (torchvision, SlotCon/DeCon): RGB, ImageNet statistics, v1.5
TORCHVISION_CONVENTIONS = {"input_format": "RGB", "pixel_mean": list(IMAGENET_PIXEL_MEAN),
                           "pixel_std": list(IMAGENET_PIXEL_STD), "stride_in_1x1": False}
#: Caffe2/MSRA ResNets (Detectron2's ImageNetPretrained/MSRA): BGR, no std, stride in the 1x1
MSRA_CONVENTIONS = {"input_format": "BGR", "pixel_mean": [103.530, 116.280, 123.675],
                    "pixel_std": [1.0, 1.0, 1.0], "stride_in_1x1": True}


class WeightsFile(NamedTuple):
    state_dict: Dict[str, torch.Tensor]  # without a DDP ``module.`` prefix
    layout: Optional[str]  # ours, authors, torchvision, detectron2 (None: not recognised)
    conventions: Optional[Dict[str, Any]]  # None: unknown (the config cannot be checked)
    origin: str  # what the file is, for the report
    export_branch: Optional[str] = None  # decon_meta["export_branch"] of our checkpoints


def _read_pkl(path: str) -> WeightsFile:
    with PathManager.open(path, "rb") as f:
        data = pickle.load(f, encoding="latin1")
    if isinstance(data, dict) and "model" in data and "__author__" in data:
        author, state, meta = data["__author__"], data["model"], data.get("decon_meta")
    else:  # Caffe2 / Detectron1 model zoo, as DetectionCheckpointer reads it
        author, state, meta = "Caffe2", data.get("blobs", data), None
    tensors = {k: torch.as_tensor(np.asarray(v)) for k, v in state.items()
               if isinstance(v, (np.ndarray, torch.Tensor)) and not k.endswith("_momentum")}
    if author == "Caffe2":
        tensors, _ = convert_c2_detectron_names(tensors)
        conventions = MSRA_CONVENTIONS
    elif meta:
        conventions = {k: meta[k] for k in TORCHVISION_CONVENTIONS if k in meta}
    else:
        conventions = TORCHVISION_CONVENTIONS if author == "torchvision" else None
    return WeightsFile(tensors, "detectron2", conventions, f"Detectron2 .pkl by {author!r}")


def read_weights(path: str) -> WeightsFile:
    """Read ``path`` (a local file or a URL Detectron2's PathManager resolves)."""
    local = PathManager.get_local_path(path)
    if local.endswith(".pkl"):
        return _read_pkl(local)
    source = load_source(local)
    layout, state = detect_layout(source.state_dict)
    if layout == "ours":
        conventions = {**TORCHVISION_CONVENTIONS,
                       **{k: source.meta[k] for k in TORCHVISION_CONVENTIONS if k in source.meta}}
        origin = f"decon-d2 checkpoint (variant {source.meta.get('variant', 'unknown')}, " \
                 f"iteration {source.iteration})"
    else:
        conventions = TORCHVISION_CONVENTIONS if layout else None
        origin = {"authors": "authors'/SlotCon checkpoint", "torchvision": "torchvision ResNet",
                  None: "unrecognised torch file"}[layout]
    export_branch = source.meta.get("export_branch") if layout == "ours" else None
    return WeightsFile(state, layout, conventions, origin, export_branch)
