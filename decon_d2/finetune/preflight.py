"""Pre-flight check of a fine-tune config against the converted checkpoint, before any work.

A config that disagrees with how the backbone was pre-trained (BGR vs RGB, mean/std, stride in
the 1x1 conv, a norm-free FPN) trains without error and silently loses AP (PyContrast#34:
box AP ~0). The converter writes the pre-training conventions into the ``.pkl``'s
``decon_meta``; this module compares them with the config and fails with the fix spelled out.
It reuses the converter's rules (``decon_d2.conventions.check_conventions``) and adds the
fine-tuning-only rule that the SSL protocol fine-tunes every stage: ``FREEZE_AT > 0`` turns the
first stages into FrozenBN while SyncBN is requested (detectron2#2022), so it is an error here.
"""
import os
import pickle
from typing import List, Optional

from detectron2.utils.file_io import PathManager

from ..conventions import SYNC_NORMS, check_conventions

#: ``MODEL.WEIGHTS`` placeholder of the shipped fine-tune configs (the moco/_moco.yaml pattern)
WEIGHTS_SENTINEL = "See Instructions"


class FinetuneConfigError(ValueError):
    """The fine-tune config cannot be used with these weights; the message lists each fix."""


def _read_meta(path: str) -> Optional[dict]:
    """``decon_meta`` of a converted ``.pkl`` (None for other files)."""
    if not path.endswith(".pkl"):
        return None
    with PathManager.open(path, "rb") as f:
        data = pickle.load(f, encoding="latin1")
    return data.get("decon_meta") if isinstance(data, dict) else None


def check_finetune_setup(cfg) -> List[str]:
    """Raise ``FinetuneConfigError`` on a mismatch; return warnings (already-safe oddities).

    Checks, in order: the weights placeholder, a missing local weights file, then for a converted
    decon-d2 ``.pkl`` its input format, pixel mean/std, ResNet stride, FPN norm and depth against
    the config, and ``FREEZE_AT`` with SyncBN.
    """
    weights = cfg.MODEL.WEIGHTS
    if weights == WEIGHTS_SENTINEL:
        raise FinetuneConfigError(
            "MODEL.WEIGHTS is the placeholder 'See Instructions'. Pass the converted checkpoint, "
            "e.g. `train_net.py --config-file ... MODEL.WEIGHTS output/decon_r50_fpn.pkl` (made by "
            "`python -m decon_d2.convert`), or MODEL.WEIGHTS \"\" for random initialisation."
        )
    errors, warnings = [], []
    meta = None
    if weights and "://" not in weights:
        if not os.path.isfile(weights):
            raise FinetuneConfigError(f"MODEL.WEIGHTS file not found: {os.path.abspath(weights)}")
        meta = _read_meta(weights)
    if meta:
        include_decoder = "fpn" in meta.get("exported", [])
        errs, warns = check_conventions(cfg, meta, include_decoder)
        errors += errs
        warnings += warns  # FREEZE_AT > 0 with SyncBN is raised below; with BN it stays a warning
    norms = (cfg.MODEL.RESNETS.NORM, cfg.MODEL.FPN.NORM)
    if cfg.MODEL.BACKBONE.FREEZE_AT > 0 and any(n in SYNC_NORMS for n in norms):
        errors.append(
            f"config MODEL.BACKBONE.FREEZE_AT is {cfg.MODEL.BACKBONE.FREEZE_AT} with SyncBN: the "
            f"first {cfg.MODEL.BACKBONE.FREEZE_AT} stages would be frozen (FrozenBN) and not "
            "fine-tuned, unlike the SSL transfer protocol: set MODEL.BACKBONE.FREEZE_AT: 0"
        )
    if errors:
        source = f" ({weights})" if weights else ""
        raise FinetuneConfigError(
            f"the fine-tune config does not match the pre-trained weights{source}:\n  - "
            + "\n  - ".join(errors)
        )
    return warnings
