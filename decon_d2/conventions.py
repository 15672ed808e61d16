"""Input and norm conventions a pre-trained backbone carries, and the check that a fine-tune
config keeps them. Shared by the converter (before it writes a ``.pkl``), fine-tuning's
pre-flight (before any work) and the checkpoint metadata that records them.

A config that disagrees with how the backbone was pre-trained (BGR vs RGB, mean/std, stride in
the 1x1 conv, a norm-free FPN) trains without an error and silently loses most of the AP (box AP
about 0 in PyContrast#34), so each mismatch is reported with the YAML line that fixes it.
"""
import dataclasses
from typing import Any, Dict, List, Optional, Sequence, Tuple

import numpy as np

__all__ = ["IMAGENET_PIXEL_MEAN", "IMAGENET_PIXEL_STD", "SYNC_NORMS", "Conventions",
           "pretrain_conventions", "check_conventions", "depth_error"]

#: torchvision's ImageNet statistics in 0-255 units, RGB: the pre-training normalisation
IMAGENET_PIXEL_MEAN = [123.675, 116.28, 103.53]
IMAGENET_PIXEL_STD = [58.395, 57.12, 57.375]
#: Detectron2 norm names that synchronise statistics across processes (or fall back to BN)
SYNC_NORMS = ("SyncBN", "naiveSyncBN", "nnSyncBN", "naiveSyncBN_N")


@dataclasses.dataclass
class Conventions:
    """How a ResNet was trained to see its input (and its norms), as the fine-tune config must
    reproduce it. ``pixel_mean``/``pixel_std`` None: unknown, not checked. Files record these
    inside their ``decon_meta`` record (``decon_d2/weights/record.py`` reads and writes them)."""

    input_format: str = "RGB"
    pixel_mean: Optional[Sequence[float]] = None
    pixel_std: Optional[Sequence[float]] = None
    stride_in_1x1: bool = False
    norm: Optional[str] = None
    fpn_norm: Optional[str] = None

    def to_dict(self) -> Dict[str, Any]:
        return dataclasses.asdict(self)


def pretrain_conventions(cfg) -> Conventions:
    """The conventions of a pre-training config, as recorded in ``decon_meta``. ``norm`` and
    ``fpn_norm`` are the configured names ("SyncBN"), not a single process's BN fallback."""
    return Conventions(
        input_format=cfg.INPUT.FORMAT,
        pixel_mean=list(cfg.MODEL.PIXEL_MEAN),
        pixel_std=list(cfg.MODEL.PIXEL_STD),
        stride_in_1x1=bool(cfg.MODEL.RESNETS.STRIDE_IN_1X1),
        norm=cfg.MODEL.RESNETS.NORM,
        fpn_norm=cfg.MODEL.FPN.NORM,
    )


def depth_error(cfg, depth: int) -> str:
    """The message for a config whose ResNet depth is not the checkpoint's, with the fix."""
    return (f"config MODEL.RESNETS.DEPTH is {cfg.MODEL.RESNETS.DEPTH}; the checkpoint is a "
            f"ResNet-{depth}: set MODEL.RESNETS.DEPTH: {depth}"
            + ("" if depth >= 50 else " and MODEL.RESNETS.RES2_OUT_CHANNELS: 64"))


def check_conventions(cfg, conventions, include_decoder: bool, depth: Optional[int] = 50
                      ) -> Tuple[List[str], List[str]]:
    """(errors, warnings) comparing a config with the checkpoint's :class:`Conventions` (or a
    weights record, whose ``conventions`` are used); ``depth``: the checkpoint's ResNet depth
    (``decon_d2.weights.resnet_depth`` reads it off the names), None where shapes are compared
    anyway (continual pre-training)."""
    conv = getattr(conventions, "conventions", conventions)
    if not isinstance(conv, Conventions):
        raise TypeError(f"expected Conventions or a weights record, got {type(conv).__name__}")
    errors, warnings = [], []
    fmt = conv.input_format or "RGB"
    if cfg.INPUT.FORMAT != fmt:
        errors.append(f"config INPUT.FORMAT is {cfg.INPUT.FORMAT!r} but the backbone was "
                      f"pre-trained on {fmt} input: set INPUT.FORMAT: \"{fmt}\"")
    for key, want in (("PIXEL_MEAN", conv.pixel_mean), ("PIXEL_STD", conv.pixel_std)):
        have = list(getattr(cfg.MODEL, key))
        if want is None or np.allclose(have, want, atol=1e-3):
            continue
        hint = ""
        if np.allclose(have[::-1], want, atol=1e-3):
            hint = " (same values in reversed channel order: BGR statistics)"
        elif np.allclose(have, 1.0):
            hint = " (Detectron2's default std 1 is for caffe2/MSRA weights)"
        errors.append(f"config MODEL.{key} is {have} but the backbone was pre-trained with "
                      f"{list(want)}{hint}: set MODEL.{key}: {list(want)}")
    stride = bool(conv.stride_in_1x1)
    if bool(cfg.MODEL.RESNETS.STRIDE_IN_1X1) != stride:
        errors.append(f"config MODEL.RESNETS.STRIDE_IN_1X1 is {cfg.MODEL.RESNETS.STRIDE_IN_1X1} "
                      f"but the pre-trained ResNet strides in the {'1x1' if stride else '3x3'} "
                      f"conv: set MODEL.RESNETS.STRIDE_IN_1X1: {stride}")
    if depth is not None and cfg.MODEL.RESNETS.DEPTH != depth:
        errors.append(depth_error(cfg, depth))
    if include_decoder and not cfg.MODEL.FPN.NORM:
        errors.append("config MODEL.FPN.NORM is empty (convs with bias) but the pre-trained FPN "
                      "has norm layers: set MODEL.FPN.NORM: \"SyncBN\"")
    if cfg.MODEL.BACKBONE.FREEZE_AT != 0:
        warnings.append(f"config MODEL.BACKBONE.FREEZE_AT is {cfg.MODEL.BACKBONE.FREEZE_AT}: the "
                        "first stages stay frozen (FrozenBN); the SSL transfer protocol uses 0")
    for key in ("RESNETS", "FPN"):
        norm = getattr(cfg.MODEL, key).NORM
        if norm and norm not in SYNC_NORMS + ("BN",):
            warnings.append(f"config MODEL.{key}.NORM is {norm!r}; the SlotCon/DeCon protocol "
                            "fine-tunes with SyncBN (DenseCL#7: -2 AP without it)")
    return errors, warnings
