"""The pre-training network a converted file is compared with (its "reference").

The pre-training side ("reference") is, from most to least faithful:
``decon-model``: the whole ``DeCon`` model built from its pre-training config, the checkpoint
loaded strictly, and its ``<branch>.backbone`` run; ``decon-backbone``: our checkpoints without
a config, the ``DeConEncoder``/``DeConFPN``/``DeConFCN`` built from the output's record
(``decon_d2.weights.ConvertedRecord``: conventions, norms, FCN geometry);
``torchvision``: for torchvision and authors' inputs, a torchvision ResNet (of the depth the
names tell: ``decon_d2.weights.resnet_depth``) plus a functional
FPN or FCN decoder written here, an implementation independent of Detectron2's.
"""
import logging
from typing import Callable, Dict, Mapping, Tuple

import numpy as np
import torch
import torch.nn.functional as F

from ..config import build_cfg
from ..weights import (FPN_LEVELS, ConvertedRecord, d2_to_torchvision, detect_layout,
                       encoder_prefix, fpn_channels, is_encoder_key, resnet_depth)
from .targets import pretraining_overlay

__all__ = ["Reference", "build_reference"]

logger = logging.getLogger(__name__)
Reference = Callable[[torch.Tensor], Dict[str, torch.Tensor]]  # RGB 0-255 (3,H,W) -> features


def _normalise(rgb, mean, std):
    mean = torch.as_tensor(mean, dtype=torch.float32).view(-1, 1, 1)
    std = torch.as_tensor(std, dtype=torch.float32).view(-1, 1, 1)
    return ((rgb - mean) / std)[None]


def _conv_norm(sd, prefix, x, padding, dilation=1):
    y = F.conv2d(x, sd[prefix + ".weight"], sd.get(prefix + ".bias"), padding=padding,
                 dilation=dilation)
    if prefix + ".norm.weight" in sd:
        y = F.batch_norm(y, sd[prefix + ".norm.running_mean"], sd[prefix + ".norm.running_var"],
                         sd[prefix + ".norm.weight"], sd[prefix + ".norm.bias"], False, 0.0, 1e-5)
    return y


def _authors_fcn(source_state, branch) -> Dict[str, torch.Tensor]:
    """The authors' FCN decoder of ``branch`` under its own (mmseg) names: ``{i}.conv.weight``,
    ``{i}.bn.*``; read from the source, so the reference does not depend on the key map."""
    _, sd = detect_layout(source_state)
    prefix = f"decoder_{'k' if branch == 'teacher' else 'q'}.convs."
    return {k[len(prefix):]: v for k, v in sd.items() if k.startswith(prefix)}


def _torchvision_reference(d2_state: Mapping[str, np.ndarray], record: ConvertedRecord,
                           fcn_dilation,
                           fcn: Mapping[str, torch.Tensor]) -> Reference:
    """torchvision ResNet-50 (loaded from the converted tensors through the inverse name table)
    + a functional FPN (converted tensors) or FCN decoder (``fcn``: source tensors, mmseg
    names)."""
    import torchvision

    depth = resnet_depth(d2_state, default=50)
    resnet = getattr(torchvision.models, f"resnet{depth}")(weights=None).eval()
    prefix = encoder_prefix(d2_state)
    body = {d2_to_torchvision(k[len(prefix):]): torch.as_tensor(v)
            for k, v in d2_state.items() if is_encoder_key(k)}
    result = resnet.load_state_dict(body, strict=False)
    if result.unexpected_keys or set(result.missing_keys) - {"fc.weight", "fc.bias"}:
        raise RuntimeError(f"torchvision reference does not take the converted encoder: {result}")
    fpn = {k[len("backbone."):]: torch.as_tensor(v) for k, v in d2_state.items()
           if k.startswith("backbone.fpn_")}

    def run(rgb):
        x = _normalise(rgb, record.pixel_mean, record.pixel_std)
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
        if fcn:  # mmseg ConvModule per layer: conv (dilated, no bias) -> BN -> ReLU, on res5
            y, i, d = feats["res5"], 0, fcn_dilation
            while f"{i}.conv.weight" in fcn:
                y = F.conv2d(y, fcn[f"{i}.conv.weight"], padding=d, dilation=d)
                y = F.relu(F.batch_norm(y, fcn[f"{i}.bn.running_mean"], fcn[f"{i}.bn.running_var"],
                                        fcn[f"{i}.bn.weight"], fcn[f"{i}.bn.bias"], False, 0.0,
                                        1e-5))
                i += 1
            feats["fcn"] = y
        return feats

    return run


def _decon_cfg_from_record(record: ConvertedRecord, state):
    """The pre-training backbone the record and the tensors (depth, FPN width) describe, with
    the record's norms and FCN geometry."""
    cfg = build_cfg()
    cfg.defrost()
    pretraining_overlay(cfg, record.conventions, resnet_depth(state, default=50),
                        fpn_channels(state))
    cfg.MODEL.RESNETS.OUT_FEATURES = ["res2", "res3", "res4", "res5"]
    cfg.MODEL.RESNETS.NORM = record.norm or "SyncBN"
    cfg.MODEL.FPN.IN_FEATURES = ["res2", "res3", "res4", "res5"]
    cfg.MODEL.FPN.NORM = record.fpn_norm or "SyncBN"
    fcn = record.fcn or {}  # the FCN geometry's own fields (decon_d2/weights/run_record.py)
    for key, name in (("CONVS_DIM", "channels"), ("NUM_CONVS", "num_convs"),
                      ("DILATION", "dilation"), ("NORM", "norm")):
        if name in fcn:
            cfg.MODEL.DECON.FCN[key] = fcn[name]
    return cfg


def _backbone_state(state_dict, branch):
    _, sd = detect_layout(state_dict)
    prefix = f"{branch}.backbone."
    return {k[len(prefix):]: v for k, v in sd.items() if k.startswith(prefix)}


def build_reference(layout: str, branch: str, source_state: Mapping[str, torch.Tensor],
                    d2_state: Mapping[str, np.ndarray], record: ConvertedRecord,
                    pretrain_cfg=None, fcn_dilation=6) -> Tuple[str, Reference]:
    """(description, reference function) for the pre-training side; see the module docstring.
    ``fcn_dilation``: the functional FCN decoder's dilation (authors' checkpoints record none)."""
    if layout != "ours":
        fcn = _authors_fcn(source_state, branch) if any(
            k.startswith("sem_seg_head.convs.") for k in d2_state) else {}
        return (f"torchvision ResNet-{resnet_depth(d2_state, 50)} + functional decoder",
                _torchvision_reference(d2_state, record, fcn_dilation, fcn))
    try:
        from ..modeling import build_decon_backbone  # noqa: F401  (registers DeCon)
    except ImportError as e:
        logger.warning("decon_d2.modeling not importable (%s): torchvision reference", e)
        return (f"torchvision ResNet-{resnet_depth(d2_state, 50)} + functional decoder "
                "(decon_d2.modeling unavailable)",
                _torchvision_reference(d2_state, record, fcn_dilation, {}))
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
        levels = [f"p{s}" for s in FPN_LEVELS if f"fpn_output{s}.weight" in state]
        kind = "FCN" if any(k.startswith("fcn.") for k in state) else "FPN"
        levels = ["fcn"] if kind == "FCN" else levels
        net = build_decon_backbone(_decon_cfg_from_record(record, state), out_levels=levels,
                                   decoder_type=kind)
        net.load_state_dict(state, strict=True)
        net.eval()
        mean, std = record.pixel_mean, record.pixel_std
        desc = f"DeCon {type(net).__name__} ({branch}) built from decon_meta"

    def run(rgb):
        return dict(net(_normalise(rgb, mean, std)))

    return desc, run
