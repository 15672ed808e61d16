"""Check a converted file the way fine-tuning will use it, before it is kept.

Three checks, cheapest first (a file is kept only once it loads as fine-tuning will load it and
reproduces the pre-training features); :func:`verify` runs 2 and 3, the CLI runs 1 first for
every conversion:

1. **Input conventions** (``decon_d2.conventions.check_conventions``): the fine-tune config's ``INPUT.FORMAT``,
   ``PIXEL_MEAN``/``PIXEL_STD``, ``STRIDE_IN_1X1`` and depth must match how the backbone was
   pre-trained (the output's record, ``decon_d2.weights.ConvertedRecord``). A mismatch costs no
   error message in Detectron2 and ~all of the AP (PyContrast#34: BGR/std-1 defaults give
   AP ≈ 0), so each one fails with the YAML line that fixes it.
2. **Loading** (:func:`load_check`): the fine-tune model (Mask R-CNN R50-FPN, Faster R-CNN
   R50-C4, a segmentor) is built from the config on CPU and the
   file is loaded by ``DetectionCheckpointer`` exactly as ``MODEL.WEIGHTS`` would load it. Every
   tensor must land under its own name (no suffix matching), nothing may be unexpected, and the
   only missing keys may be the heads (RPN, ROI) and the FPN output convs that were not
   pre-trained.
3. **Features** (:func:`compare_features`): on one random RGB image, res2..res5 and the
   pre-trained decoder outputs of the loaded fine-tuning model (fed the image in
   ``cfg.INPUT.FORMAT``, normalised with its pixel statistics, as the data loader and model
   would) must equal those of the pre-training network (fed the RGB image normalised its own
   way), both in eval mode; max |diff| <= 1e-4. This catches wrong renames, a wrong branch,
   RGB/BGR, mean/std and STRIDE_IN_1X1 errors at once. The decoder outputs are the FPN's
   p-levels, or the FCN head's conv-stack output (``FCNHead.decode``, before the classifier).
   C4 targets (``c4_target.py``): res5 is run by the ROI head's res5 blocks on the whole res4 map.
   p6 (LastLevelMaxPool, no weights) is not compared: the pre-training FPN has no top block.
   For DeCon-SL only p2 is compared; p2 passes through all four laterals, so every transferred
   FPN weight is still covered, while p3..p5 use the random output convs left for fine-tuning.
   Models at output stride 16 (``RES5_DILATION: 2``, the FCN protocol) are compared in the
   pre-training geometry: the same weights with ``RES5_DILATION: 1`` and the FCN head at the
   pre-training dilation (docs/method.md §7.7); the report notes it.
The pre-training side ("reference") is built by ``reference.py``.
"""
import logging
from typing import Any, Dict, List, Tuple

import torch

from ..weights import (BOTTOM_UP, FPN_LEVELS, encoder_relative, has_c4_head, is_encoder_key,
                       read_pkl)
from .c4_target import res5_from_roi_head
from .groups import HEAD_GROUPS, target_group
from .reference import Reference, build_reference

__all__ = ["load_check", "compare_features", "verify", "TOLERANCE", "comparison_cfg"]

TOLERANCE = 1e-4
FCN = "fcn"  # the FCN decoder's feature (modeling/fcn.py FCN_FEATURE)
logger = logging.getLogger(__name__)


def build_finetune_model(cfg):
    """The fine-tune model of ``cfg`` on CPU, eval mode (BN running statistics)."""
    from detectron2.modeling import build_model

    from ..modeling import res5_extra_norm  # noqa: F401  (registers Res5ROIHeadsExtraNorm)

    cfg = cfg.clone()
    cfg.defrost()
    cfg.MODEL.DEVICE = "cpu"
    return build_model(cfg).eval()


def load_check(model, pkl_path: str, allowed_missing_groups) -> Tuple[List[str], Dict[str, int]]:
    """Load ``pkl_path`` with DetectionCheckpointer; (errors, {missing group: count})."""
    from detectron2.checkpoint import DetectionCheckpointer

    written = read_pkl(pkl_path)
    errors = []
    if written.matching_heuristics or written.author is None:
        errors.append("output would be loaded with Detectron2's suffix-matching heuristics")
    # Detectron2 logs the (expected) missing head keys as a warning; the report lists them by
    # group instead, so that only real problems reach the console (docs/convert.md).
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
    unexpected = sorted(k for k in written.state_dict if k not in state)
    if unexpected:
        errors.append(f"{len(unexpected)} key(s) unexpected by the fine-tune model: "
                      f"{unexpected[:8]}")
    not_loaded = [k for k, v in written.state_dict.items()
                  if k in state and not torch.equal(state[k].cpu(), v)]
    if not_loaded:
        errors.append(f"{len(not_loaded)} tensor(s) did not load as written: {not_loaded[:8]}")
    missing: Dict[str, int] = {}
    for k in state:
        if k not in written.state_dict:
            g = target_group(k)
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
    """Max |diff| per level between the loaded fine-tuning model and ``reference``.

    ``size`` is a multiple of 32 so that size-divisibility padding would add nothing.
    """
    rgb = _random_rgb(size, seed)
    image = rgb.flip(0) if cfg.INPUT.FORMAT == "BGR" else rgb  # as DatasetMapper reads it
    x = ((image - model.pixel_mean) / model.pixel_std)[None]  # as the model normalises it
    resnet = getattr(model.backbone, "bottom_up", model.backbone)
    ours = dict(resnet(x))
    if resnet is not model.backbone:
        ours.update(model.backbone(x))
    if hasattr(getattr(model, "roi_heads", None), "res5"):  # C4: res5 is the ROI head's
        ours.update(res5_from_roi_head(model, ours["res4"]))
    if FCN in levels:
        ours[FCN] = model.sem_seg_head.decode(ours)
    ref = reference(rgb)
    diffs = {}
    for level in levels:
        if level not in ref or level not in ours or ref[level].shape != ours[level].shape:
            diffs[level] = float("inf")
            continue
        diff = float((ours[level] - ref[level]).abs().max())
        diffs[level] = diff if diff == diff else float("inf")  # NaN (e.g. a negative var) fails
    return diffs


def comparison_cfg(cfg, report) -> Tuple[Any, List[str]]:
    """The fine-tune config in the pre-training geometry (stride-32 res5, the FCN decoder's
    pre-training dilation), and notes saying what changed; the weights are the same."""
    cmp, notes = cfg.clone(), []
    cmp.defrost()
    if "build_resnet_backbone" in cmp.MODEL.BACKBONE.NAME:  # the ResNet alone: return every stage
        c4 = cmp.MODEL.META_ARCHITECTURE == "GeneralizedRCNN"  # res5 is the ROI head's
        cmp.MODEL.RESNETS.OUT_FEATURES = ["res2", "res3", "res4"] + ([] if c4 else ["res5"])
        if c4:
            notes.append("C4 target: res2..res4 from the backbone, res5 from the ROI head's res5 "
                         "blocks on the whole res4 map (its extra norm is not pre-trained)")
    if cmp.MODEL.RESNETS.RES5_DILATION != 1:
        notes.append(f"res5 compared without dilation (fine-tuning uses RES5_DILATION "
                     f"{cfg.MODEL.RESNETS.RES5_DILATION}, output stride "
                     f"{32 // cfg.MODEL.RESNETS.RES5_DILATION}; same weights)")
        cmp.MODEL.RESNETS.RES5_DILATION = 1
    if report.decoder == "fcn":
        head = cmp.MODEL.SEM_SEG_HEAD.FCN
        fcn = report.record.fcn or {}
        if not fcn.get("dilation"):
            notes.append(f"pre-training FCN dilation unknown: compared at the config's "
                         f"{head.DILATION}")
        elif fcn["dilation"] != head.DILATION:
            notes.append(f"FCN head compared at its pre-training dilation {fcn['dilation']} "
                         f"(fine-tuning uses {head.DILATION}; same weights)")
            head.DILATION = fcn["dilation"]
        if fcn.get("stride") and notes:
            notes.append(f"FCN decoder pre-trained on the stride-{fcn['stride']} res5 map with "
                         f"dilation {fcn['dilation']}, fine-tuned at stride "
                         f"{32 // cfg.MODEL.RESNETS.RES5_DILATION} with dilation "
                         f"{cfg.MODEL.SEM_SEG_HEAD.FCN.DILATION} (docs/method.md §7.7)")
    cmp.freeze()
    return cmp, notes


def verify(pkl_path: str, cfg, report, source_state, pretrain_cfg=None,
           tolerance: float = TOLERANCE) -> Dict[str, Any]:
    """Checks 2 and 3 (loading, features); returns the report's ``verification`` dict
    (``passed`` bool). Check 1, :func:`check_conventions`, is the caller's: the CLI runs it before
    writing anything, with or without ``--verify``."""
    record = report.record
    result: Dict[str, Any] = {"tolerance": tolerance, "errors": [], "notes": []}
    model = build_finetune_model(cfg)
    allowed = set(HEAD_GROUPS) | {"fpn_output (not pre-trained)"}
    if report.decoder != "fpn":
        allowed |= {"fpn_lateral (not pre-trained)"}
    if report.decoder != "fcn":
        allowed |= {"fcn_head (not pre-trained)"}
    if report.partial:
        allowed |= {"encoder (not pre-trained)", "fpn_lateral (not pre-trained)",
                    "fcn_head (not pre-trained)"}
    load_errors, missing = load_check(model, pkl_path, allowed)
    result["errors"] += load_errors
    result["missing_after_load"] = missing
    if report.partial:
        result["reference"] = "none"
        result["notes"].append("partial output: features not compared")
        result["passed"] = not result["errors"]
        return result
    levels = ["res2", "res3", "res4", "res5"]
    if report.decoder == "fpn":
        levels += record.fpn_outputs_pretrained
    elif report.decoder == "fcn":
        levels.append(FCN)
    cmp_cfg, notes = comparison_cfg(cfg, report)
    result["notes"] += notes
    if notes:  # the same file in the pre-training geometry
        model = build_finetune_model(cmp_cfg)
        load_check(model, pkl_path, allowed)
    desc, reference = build_reference(report.layout, report.branch or "teacher", source_state,
                                      _resnet_names(read_pkl(pkl_path).state_dict), record,
                                      pretrain_cfg,
                                      fcn_dilation=cmp_cfg.MODEL.SEM_SEG_HEAD.FCN.DILATION)
    result["reference"] = desc
    diffs = compare_features(model, cmp_cfg, reference, levels)
    result["max_abs_diff"] = diffs
    result["max"] = max(diffs.values())
    if result["max"] > tolerance:
        result["errors"].append(f"features differ from the pre-training network: max |diff| "
                                f"{result['max']:.3g} > {tolerance:g} ({diffs})")
    skipped = [f"p{s}" for s in FPN_LEVELS if report.decoder == "fpn"
               and f"p{s}" not in levels]
    if skipped:
        result["notes"].append(f"{skipped} not compared: their output convs were not pre-trained "
                               "(p2 still covers every lateral)")
    if any(k.startswith("backbone.fpn_") for k in model.state_dict()):
        result["notes"].append("p6 not compared: parameter-free max-pool, absent in pre-training")
    result["passed"] = not result["errors"]
    return result


def _resnet_names(d2_state):
    """A C4 file's encoder under the ResNet's own names (``backbone.bottom_up.res5.*`` for
    ``roi_heads.res5.*``), as the torchvision reference reads them; other files unchanged."""
    if not has_c4_head(d2_state):
        return d2_state
    return {(BOTTOM_UP + encoder_relative(k) if is_encoder_key(k) else k): v
            for k, v in d2_state.items()}

