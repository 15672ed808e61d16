"""Writing a converted Detectron2 ``.pkl`` under a temporary name beside its destination.

The converter verifies the temporary file (it loads it as fine-tuning will) and only then
``os.replace``\\ s it onto the destination, so a failed conversion or verification never leaves
a file behind or half-overwrites one (``decon_d2/convert/__main__.py``).
"""
import os
import pickle
from typing import Any, Mapping, Union

import numpy as np

from ..utils.atomic import temp_path_beside
from .record import ConvertedRecord

__all__ = ["write_pkl_tmp"]


def write_pkl_tmp(output: str, model: Mapping[str, np.ndarray],
                  record: Union[ConvertedRecord, Mapping[str, Any]]) -> str:
    """Write the Detectron2 pickle to a temporary ``.pkl`` beside ``output``; return its path.

    ``"__author__"`` makes Detectron2's DetectionCheckpointer take the dict as-is, and
    ``matching_heuristics: False`` turns off its suffix matching: names must be exact. On any
    failure the temporary file is removed and the error raised.
    """
    meta = record.to_dict() if isinstance(record, ConvertedRecord) else dict(record)
    tmp = temp_path_beside(output, suffix=".tmp.pkl")
    payload = {
        "model": dict(model),
        "__author__": "decon-d2",
        "matching_heuristics": False,
        "decon_meta": meta,
    }
    try:
        with open(tmp, "wb") as f:
            pickle.dump(payload, f, protocol=pickle.HIGHEST_PROTOCOL)
    except BaseException:
        os.unlink(tmp)
        raise
    return tmp
