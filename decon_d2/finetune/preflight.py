"""Pre-flight check of a fine-tune config against the converted checkpoint, before any work.

A config that disagrees with how the backbone was pre-trained (BGR vs RGB, mean/std, stride in
the 1x1 conv, a norm-free FPN) trains without error and silently loses AP (PyContrast#34:
box AP ~0). The converter writes the pre-training conventions into the ``.pkl``'s record
(``decon_d2.weights.ConvertedRecord``); this module compares them with the config and fails with
the fix spelled out.
It reuses the converter's rules (``decon_d2.conventions.check_conventions``) and adds the
fine-tuning-only rules: the SSL protocol fine-tunes every stage (``FREEZE_AT > 0`` turns the
first stages into FrozenBN while SyncBN is requested, detectron2#2022); and the converted names
and shapes must fit the model this config builds (a ``.pkl`` converted for another model, e.g.
Mask R-CNN weights in an FCN segmentor, would otherwise load nothing, behind one warning).
"""
import os
from typing import Dict, List, Optional, Tuple

from ..conventions import SYNC_NORMS, check_conventions
from ..modeling.shapes import model_shapes
from ..weights import DECODER_PREFIXES, ConvertedRecord, ResNetDepthError, read_pkl, resnet_depth

#: ``MODEL.WEIGHTS`` placeholder of the shipped fine-tune configs (the moco/_moco.yaml pattern)
WEIGHTS_SENTINEL = "See Instructions"


class FinetuneConfigError(ValueError):
    """The fine-tune config cannot be used with these weights; the message lists each fix."""


def _read_converted(path: str) -> Tuple[Optional[ConvertedRecord], Dict[str, tuple]]:
    """(record, {name: shape}) of a converted ``.pkl``; (None, {}) for other files."""
    if not path.endswith(".pkl"):
        return None, {}
    weights = read_pkl(path)
    if not isinstance(weights.record, ConvertedRecord):
        return None, {}
    return weights.record, {k: tuple(v.shape) for k, v in weights.state_dict.items()}


def _depth(shapes: Dict[str, tuple]) -> Optional[int]:
    """The converted ResNet's depth, None when the names tell none (then the shapes decide)."""
    try:
        return resnet_depth(shapes)
    except ResNetDepthError:
        return None


def _fit_errors(cfg, shapes: Dict[str, tuple]) -> List[str]:
    """Converted tensors that have no place (name, shape) in the model of ``cfg``."""
    if cfg.MODEL.TRANSFER.DECODER == "random":  # the decoder is not loaded
        shapes = {k: v for k, v in shapes.items() if not k.startswith(DECODER_PREFIXES)}
    target = model_shapes(cfg)
    extra = sorted(k for k in shapes if k not in target)
    wrong = sorted(f"{k} {shapes[k]} vs {target[k]}" for k in shapes
                   if k in target and shapes[k] != target[k])
    errors = []
    if extra:
        errors.append(f"{len(extra)} tensor(s) of MODEL.WEIGHTS have no place in the model this "
                      f"config builds (e.g. {extra[0]}): they were converted for another model. "
                      "Convert for this config: `python -m decon_d2.convert CHECKPOINT OUT.pkl "
                      "--config <this config>`")
    if wrong:
        errors.append(f"{len(wrong)} tensor(s) of MODEL.WEIGHTS have another shape in this "
                      f"model ({wrong[0]}): convert for this config (--config), or set "
                      "MODEL.TRANSFER.DECODER random if only the decoder differs")
    return errors


def check_finetune_setup(cfg) -> List[str]:
    """Raise ``FinetuneConfigError`` on a mismatch; return warnings (already-safe oddities).

    Checks, in order: ``MODEL.TRANSFER.DECODER``, the weights placeholder, a missing local
    weights file, then for a converted decon-d2 ``.pkl`` its input format, pixel mean/std, ResNet
    stride, FPN norm and depth against the config and its tensor names and shapes against the
    model the config builds, and ``FREEZE_AT`` with SyncBN.
    """
    weights = cfg.MODEL.WEIGHTS
    if cfg.MODEL.TRANSFER.DECODER not in ("pretrained", "random"):
        raise FinetuneConfigError(f"MODEL.TRANSFER.DECODER must be \"pretrained\" or \"random\", "
                                  f"got {cfg.MODEL.TRANSFER.DECODER!r}")
    if weights == WEIGHTS_SENTINEL:
        raise FinetuneConfigError(
            "MODEL.WEIGHTS is the placeholder 'See Instructions'. Pass the converted checkpoint, "
            "e.g. `train_net.py --config-file ... MODEL.WEIGHTS output/decon_r50_fpn.pkl` (made by "
            "`python -m decon_d2.convert`), or MODEL.WEIGHTS \"\" for random initialisation."
        )
    errors, warnings = [], []
    record, shapes = None, {}
    if weights and "://" not in weights:
        if not os.path.isfile(weights):
            raise FinetuneConfigError(f"MODEL.WEIGHTS file not found: {os.path.abspath(weights)}")
        record, shapes = _read_converted(weights)
    if record is not None:
        # the FPN-norm rule only where this config builds an FPN (the .pkl fit is checked below)
        include_decoder = record.exports_fpn and "fpn" in cfg.MODEL.BACKBONE.NAME
        errs, warns = check_conventions(cfg, record, include_decoder, _depth(shapes))
        errors += errs + _fit_errors(cfg, shapes)
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
