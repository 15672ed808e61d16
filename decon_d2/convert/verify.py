"""Check a converted file the way fine-tuning will use it, before it is kept.

Three checks, cheapest first (user_needs.md §3, "Verify by loading"); :func:`verify` runs 2 and 3,
the CLI runs 1 first for every conversion:

1. **Input conventions** (:func:`check_conventions`): the fine-tune config's ``INPUT.FORMAT``,
   ``PIXEL_MEAN``/``PIXEL_STD``, ``STRIDE_IN_1X1`` and depth must match how the backbone was
   pre-trained (the output's ``decon_meta``). A mismatch costs no error message in Detectron2 and
   ~all of the AP (PyContrast#34: BGR/std-1 defaults give AP ≈ 0), so each one fails with the
   YAML line that fixes it.
2. **Loading** (:func:`load_check`): Mask R-CNN R50-FPN is built from the config on CPU and the
   file is loaded by ``DetectionCheckpointer`` exactly as ``MODEL.WEIGHTS`` would load it. Every
   tensor must land under its own name (no suffix matching), nothing may be unexpected, and the
   only missing keys may be the heads (RPN, ROI) and the FPN output convs that were not
   pre-trained.
3. **Features** (:func:`compare_features`): on one random RGB image, res2..res5 and the
   pre-trained p-levels of the loaded Mask R-CNN backbone (fed the image in
   ``cfg.INPUT.FORMAT`` through ``preprocess_image``, as the data loader and model would) must
   equal those of the pre-training network (fed the RGB image normalised its own way), both in
   eval mode; max |diff| <= 1e-4. This catches wrong renames, a wrong branch, RGB/BGR, mean/std
   and STRIDE_IN_1X1 errors at once. p6 (LastLevelMaxPool, no weights) is not compared: the
   pre-training FPN has no top block. For DeCon-SL only p2 is compared; p2 passes through all
   four laterals, so every transferred FPN weight is still covered, while p3..p5 use the
   random output convs left for fine-tuning.

The pre-training side ("reference") is, from most to least faithful:
``decon-model``: the whole ``DeCon`` model built from its pre-training config, the checkpoint
loaded strictly, and its ``<branch>.backbone`` run; ``decon-backbone``: our checkpoints without
a config, the ``DeConEncoder``/``DeConFPN`` built from ``decon_meta``; ``torchvision``: for
torchvision and authors' inputs, a torchvision ResNet-50 plus a functional FPN written here, an
implementation independent of Detectron2's.
"""
import logging
import os
import pickle
from typing import Any, Callable, Dict, List, Mapping, Optional, Tuple

import numpy as np
import torch
import torch.nn.functional as F

from . import rules
from .formats import detect_layout

__all__ = ["check_conventions", "load_check", "compare_features", "build_reference",
           "TOLERANCE"]

TOLERANCE = 1e-4
logger = logging.getLogger(__name__)
Reference = Callable[[torch.Tensor], Dict[str, torch.Tensor]]  # RGB 0-255 (3,H,W) -> features


def check_conventions(cfg, meta: Mapping[str, Any], include_decoder: bool
                      ) -> Tuple[List[str], List[str]]:
    """(errors, warnings) comparing the fine-tune config with the checkpoint's conventions."""
    errors, warnings = [], []
    fmt = meta.get("input_format", "RGB")
    if cfg.INPUT.FORMAT != fmt:
        errors.append(f"config INPUT.FORMAT is {cfg.INPUT.FORMAT!r} but the backbone was "
                      f"pre-trained on {fmt} input: set INPUT.FORMAT: \"{fmt}\"")
    for key, want in (("PIXEL_MEAN", meta.get("pixel_mean")), ("PIXEL_STD", meta.get("pixel_std"))):
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
    stride = bool(meta.get("stride_in_1x1", False))
    if bool(cfg.MODEL.RESNETS.STRIDE_IN_1X1) != stride:
        errors.append(f"config MODEL.RESNETS.STRIDE_IN_1X1 is {cfg.MODEL.RESNETS.STRIDE_IN_1X1} "
                      f"but the pre-trained ResNet strides in the {'1x1' if stride else '3x3'} "
                      f"conv: set MODEL.RESNETS.STRIDE_IN_1X1: {stride}")
    if cfg.MODEL.RESNETS.DEPTH != 50:
        errors.append(f"config MODEL.RESNETS.DEPTH is {cfg.MODEL.RESNETS.DEPTH}; the checkpoint "
                      "is a ResNet-50: set MODEL.RESNETS.DEPTH: 50")
    if include_decoder and not cfg.MODEL.FPN.NORM:
        errors.append("config MODEL.FPN.NORM is empty (convs with bias) but the pre-trained FPN "
                      "has norm layers: set MODEL.FPN.NORM: \"SyncBN\"")
    if cfg.MODEL.BACKBONE.FREEZE_AT != 0:
        warnings.append(f"config MODEL.BACKBONE.FREEZE_AT is {cfg.MODEL.BACKBONE.FREEZE_AT}: the "
                        "first stages stay frozen (FrozenBN); the SSL transfer protocol uses 0")
    for key in ("RESNETS", "FPN"):
        norm = getattr(cfg.MODEL, key).NORM
        if norm and norm not in ("SyncBN", "naiveSyncBN", "BN", "nnSyncBN"):
            warnings.append(f"config MODEL.{key}.NORM is {norm!r}; the SlotCon/DeCon protocol "
                            "fine-tunes with SyncBN (DenseCL#7: -2 AP without it)")
    return errors, warnings


def build_finetune_model(cfg):
    """Mask R-CNN from ``cfg`` on CPU, eval mode (BN running statistics)."""
    from detectron2.modeling import build_model

    cfg = cfg.clone()
    cfg.defrost()
    cfg.MODEL.DEVICE = "cpu"
    return build_model(cfg).eval()


def load_check(model, pkl_path: str, allowed_missing_groups) -> Tuple[List[str], Dict[str, int]]:
    """Load ``pkl_path`` with DetectionCheckpointer; (errors, {missing group: count})."""
    from detectron2.checkpoint import DetectionCheckpointer

    with open(pkl_path, "rb") as f:
        data = pickle.load(f, encoding="latin1")
    errors = []
    if data.get("matching_heuristics", True) or "__author__" not in data:
        errors.append("output would be loaded with Detectron2's suffix-matching heuristics")
    # Detectron2 logs the (expected) missing head keys as a warning; the report lists them by
    # group instead, so that only real problems reach the console (user_needs.md §3).
    quiet = [logging.getLogger(n) for n in ("fvcore.common.checkpoint",
                                            "detectron2.checkpoint.detection_checkpoint")]
    levels = [lg.level for lg in quiet]
    for lg in quiet:
        lg.setLevel(logging.ERROR)
    try:
        DetectionCheckpointer(model).load(pkl_path)
    finally:
        for lg, level in zip(quiet, levels):
            lg.setLevel(level)
    state = model.state_dict()
    unexpected = sorted(k for k in data["model"] if k not in state)
    if unexpected:
        errors.append(f"{len(unexpected)} key(s) unexpected by the fine-tune model: "
                      f"{unexpected[:8]}")
    not_loaded = [k for k, v in data["model"].items()
                  if k in state and not torch.equal(state[k].cpu(), torch.as_tensor(v))]
    if not_loaded:
        errors.append(f"{len(not_loaded)} tensor(s) did not load as written: {not_loaded[:8]}")
    missing: Dict[str, int] = {}
    for k in state:
        if k not in data["model"]:
            g = rules.target_group(k)
            missing[g] = missing.get(g, 0) + 1
    bad = {g: n for g, n in missing.items() if g not in allowed_missing_groups}
    if bad:
        errors.append(f"fine-tune model keys missing from the file beyond the heads: {bad}")
    return errors, missing


def _random_rgb(size, seed) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    return torch.randint(0, 256, (3, *size), generator=g).float()


@torch.no_grad()
def compare_features(model, cfg, reference: Reference, levels, *, size=(96, 128), seed=0
                     ) -> Dict[str, float]:
    """Max |diff| per level between the loaded Mask R-CNN backbone and ``reference``.

    ``size`` is a multiple of 32 so that Mask R-CNN's size-divisibility padding adds nothing.
    """
    rgb = _random_rgb(size, seed)
    image = rgb.flip(0) if cfg.INPUT.FORMAT == "BGR" else rgb  # as DatasetMapper reads it
    x = model.preprocess_image([{"image": image}]).tensor
    ours = dict(model.backbone.bottom_up(x))
    ours.update(model.backbone(x))
    ref = reference(rgb)
    diffs = {}
    for level in levels:
        if level not in ref or level not in ours or ref[level].shape != ours[level].shape:
            diffs[level] = float("inf")
            continue
        diffs[level] = float((ours[level] - ref[level]).abs().max())
    return diffs


# ---------------------------------------------------------------- references (pre-training side)

def _normalise(rgb, mean, std):
    mean = torch.as_tensor(mean, dtype=torch.float32).view(-1, 1, 1)
    std = torch.as_tensor(std, dtype=torch.float32).view(-1, 1, 1)
    return ((rgb - mean) / std)[None]


def _conv_norm(sd, prefix, x, padding):
    y = F.conv2d(x, sd[prefix + ".weight"], sd.get(prefix + ".bias"), padding=padding)
    if prefix + ".norm.weight" in sd:
        y = F.batch_norm(y, sd[prefix + ".norm.running_mean"], sd[prefix + ".norm.running_var"],
                         sd[prefix + ".norm.weight"], sd[prefix + ".norm.bias"], False, 0.0, 1e-5)
    return y


def _torchvision_reference(d2_state: Mapping[str, np.ndarray], meta) -> Reference:
    """torchvision ResNet-50 + a functional FPN, loaded from the converted tensors."""
    import torchvision

    resnet = torchvision.models.resnet50(weights=None).eval()
    body = {rules.d2_to_torchvision(k[len(rules.BOTTOM_UP):]): torch.as_tensor(v)
            for k, v in d2_state.items() if k.startswith(rules.BOTTOM_UP)}
    result = resnet.load_state_dict(body, strict=False)
    if result.unexpected_keys or set(result.missing_keys) - {"fc.weight", "fc.bias"}:
        raise RuntimeError(f"torchvision reference does not take the converted encoder: {result}")
    fpn = {k[len("backbone."):]: torch.as_tensor(v) for k, v in d2_state.items()
           if k.startswith("backbone.fpn_")}

    def run(rgb):
        x = _normalise(rgb, meta["pixel_mean"], meta["pixel_std"])
        x = resnet.maxpool(resnet.relu(resnet.bn1(resnet.conv1(x))))
        feats = {}
        for i, layer in enumerate((resnet.layer1, resnet.layer2, resnet.layer3, resnet.layer4)):
            x = layer(x)
            feats[f"res{i + 2}"] = x
        if "fpn_lateral5.weight" in fpn:
            prev = None
            for s in (5, 4, 3, 2):  # coarse to fine, nearest x2 top-down, as Detectron2's FPN
                lat = _conv_norm(fpn, f"fpn_lateral{s}", feats[f"res{s}"], 0)
                prev = lat if prev is None else lat + F.interpolate(prev, scale_factor=2.0,
                                                                    mode="nearest")
                if f"fpn_output{s}.weight" in fpn:
                    feats[f"p{s}"] = _conv_norm(fpn, f"fpn_output{s}", prev, 1)
        return feats

    return run


def _decon_cfg_from_meta(meta):
    from detectron2.config import get_cfg

    from ..config import add_decon_config

    cfg = add_decon_config(get_cfg())
    cfg.MODEL.DEVICE = "cpu"
    cfg.MODEL.RESNETS.DEPTH = 50
    cfg.MODEL.RESNETS.OUT_FEATURES = ["res2", "res3", "res4", "res5"]
    cfg.MODEL.RESNETS.STRIDE_IN_1X1 = bool(meta.get("stride_in_1x1", False))
    cfg.MODEL.RESNETS.NORM = meta.get("norm") or "SyncBN"
    cfg.MODEL.FPN.IN_FEATURES = ["res2", "res3", "res4", "res5"]
    cfg.MODEL.FPN.NORM = meta.get("fpn_norm") or "SyncBN"
    cfg.MODEL.BACKBONE.FREEZE_AT = 0
    cfg.MODEL.PIXEL_MEAN = list(meta["pixel_mean"])
    cfg.MODEL.PIXEL_STD = list(meta["pixel_std"])
    return cfg


def _backbone_state(state_dict, branch):
    _, sd = detect_layout(state_dict)
    prefix = f"{branch}.backbone."
    return {k[len(prefix):]: v for k, v in sd.items() if k.startswith(prefix)}


def build_reference(layout: str, branch: str, source_state: Mapping[str, torch.Tensor],
                    d2_state: Mapping[str, np.ndarray], meta: Mapping[str, Any],
                    pretrain_cfg=None) -> Tuple[str, Reference]:
    """(description, reference function) for the pre-training side; see the module docstring."""
    if layout != "ours":
        return "torchvision ResNet-50 + functional FPN", _torchvision_reference(d2_state, meta)
    try:
        from ..modeling import build_decon_backbone  # noqa: F401  (registers DeCon)
    except ImportError as e:
        logger.warning("decon_d2.modeling not importable (%s): torchvision reference", e)
        return ("torchvision ResNet-50 + functional FPN (decon_d2.modeling unavailable)",
                _torchvision_reference(d2_state, meta))
    if pretrain_cfg is not None:
        from detectron2.modeling import build_model

        cfg = pretrain_cfg.clone()
        cfg.defrost()
        cfg.MODEL.DEVICE = "cpu"
        model = build_model(cfg)
        model.load_state_dict(detect_layout(source_state)[1], strict=True)
        model.eval()
        net = getattr(model, branch).backbone
        mean, std = model.pixel_mean.flatten().tolist(), model.pixel_std.flatten().tolist()
        desc = f"DeCon model ({branch}.backbone) from the pre-training config"
    else:
        state = _backbone_state(source_state, branch)
        levels = [f"p{s}" for s in rules.FPN_LEVELS if f"fpn_output{s}.weight" in state]
        net = build_decon_backbone(_decon_cfg_from_meta(meta), out_levels=levels)
        net.load_state_dict(state, strict=True)
        net.eval()
        mean, std = meta["pixel_mean"], meta["pixel_std"]
        desc = f"DeCon {type(net).__name__} ({branch}) built from decon_meta"

    def run(rgb):
        return dict(net(_normalise(rgb, mean, std)))

    return desc, run


def verify(pkl_path: str, cfg, report, source_state, pretrain_cfg=None,
           tolerance: float = TOLERANCE) -> Dict[str, Any]:
    """Checks 2 and 3 (loading, features); returns the report's ``verification`` dict
    (``passed`` bool). Check 1, :func:`check_conventions`, is the caller's: the CLI runs it before
    writing anything, with or without ``--verify``."""
    meta = report.meta
    result: Dict[str, Any] = {"tolerance": tolerance, "errors": [], "notes": []}
    model = build_finetune_model(cfg)
    allowed = set(rules.HEAD_GROUPS) | {"fpn_output (not pre-trained)"}
    if not report.include_decoder:
        allowed |= {"fpn_lateral (not pre-trained)"}
    if report.partial:
        allowed |= {"encoder (not pre-trained)", "fpn_lateral (not pre-trained)"}
    load_errors, missing = load_check(model, pkl_path, allowed)
    result["errors"] += load_errors
    result["missing_after_load"] = missing
    if report.partial:
        result["reference"] = "none"
        result["notes"].append("partial output: features not compared")
        result["passed"] = not result["errors"]
        return result
    levels = ["res2", "res3", "res4", "res5"]
    if report.include_decoder:
        levels += meta.get("fpn_outputs_pretrained", [])
    desc, reference = build_reference(report.layout, report.branch or "teacher", source_state,
                                      _load_model_dict(pkl_path),
                                      meta, pretrain_cfg)
    result["reference"] = desc
    diffs = compare_features(model, cfg, reference, levels)
    result["max_abs_diff"] = diffs
    result["max"] = max(diffs.values())
    if result["max"] > tolerance:
        result["errors"].append(f"features differ from the pre-training network: max |diff| "
                                f"{result['max']:.3g} > {tolerance:g} ({diffs})")
    skipped = [f"p{s}" for s in rules.FPN_LEVELS if report.include_decoder
               and f"p{s}" not in levels]
    if skipped:
        result["notes"].append(f"{skipped} not compared: their output convs were not pre-trained "
                               "(p2 still covers every lateral)")
    result["notes"].append("p6 not compared: parameter-free max-pool, absent in pre-training")
    result["passed"] = not result["errors"]
    return result


def _load_model_dict(pkl_path):
    with open(pkl_path, "rb") as f:
        return pickle.load(f, encoding="latin1")["model"]


def find_pretrain_config(input_path: str, explicit: Optional[str]):
    """The pre-training config: ``explicit``, else ``config.yaml`` beside the checkpoint (where
    Detectron2's ``default_setup`` writes it), else None."""
    path = explicit or os.path.join(os.path.dirname(os.path.abspath(input_path)), "config.yaml")
    if not os.path.isfile(path):
        if explicit:
            raise FileNotFoundError(explicit)
        return None
    from detectron2.config import get_cfg

    from ..config import add_decon_config

    cfg = add_decon_config(get_cfg())
    cfg.set_new_allowed(True)
    cfg.merge_from_file(path)
    return cfg if cfg.MODEL.META_ARCHITECTURE == "DeCon" else None
