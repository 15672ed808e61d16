"""Backbones for the probe, from any weights the project reads, with nothing left random.

``--weights`` values:

- ``random`` or ``random:SEED``: Detectron2's initialisation of ResNet-50 + FPN (its MSRA/Xavier
  fills, norms at weight 1, bias 0), drawn with a fixed seed (default 0); another depth and FPN
  width with ``random_geometry`` (CLI: ``--random-depth``, ``--random-fpn-channels``);
- a ``.pkl`` in Detectron2 names (``decon-convert`` output), or a checkpoint whose model keys are
  Detectron2 names (``backbone.bottom_up.*``, e.g. a fine-tuned Mask R-CNN);
- anything ``decon-convert`` reads: a decon-d2 pre-training checkpoint (the branch the converter
  exports: the teacher, the student for DenseCL heads; or ``branch``), the authors'/SlotCon files, a torchvision ResNet state dict. These go
  through ``convert_to_d2``, whose checks (missing encoder key, shape mismatch, unknown key)
  raise.

Any encoder key the file does not provide is an error: a silently random backbone would fake the
probe. FPN levels are available only when the file holds every lateral from that level up and
the level's output conv; the others are reported as unavailable, never computed from random
weights. The depth (ResNet-18/34/50/101/152) and the FPN width are read off the file's tensors
(``decon_d2/weights/geometry.py``).
"""
from dataclasses import dataclass, field
from typing import Any, Dict, Iterable, List, Optional, Tuple

import torch
from detectron2.layers import ShapeSpec
from detectron2.modeling.backbone.fpn import build_resnet_fpn_backbone

from ..conventions import IMAGENET_PIXEL_MEAN, IMAGENET_PIXEL_STD, Conventions
from ..convert import ConversionError, convert_to_d2
from ..convert.targets import finetune_cfg_for, target_shapes
from ..weights import (BOTTOM_UP, ConvertedRecord, ResNetDepthError, WeightsReadError,
                       bottom_up_name, read_weights, fpn_channels, resnet_depth)

__all__ = ["ProbeBackbone", "ProbeWeightsError", "load_probe_backbone", "LEVELS"]

#: every level the probe can read
LEVELS = ("res2", "res3", "res4", "res5", "p2", "p3", "p4", "p5")


class ProbeWeightsError(RuntimeError):
    """The weights cannot give a faithful backbone (missing keys, unknown file, ...)."""


@dataclass
class ProbeBackbone:
    """A frozen backbone in eval mode and what it can be probed at.

    ``features(x, levels)`` takes RGB images normalised with ``pixel_mean``/``pixel_std`` (in RGB
    order) and returns the requested maps; ``unavailable`` maps a level to the reason it is not.
    """

    label: str
    module: torch.nn.Module
    levels: List[str]
    pixel_mean: List[float]
    pixel_std: List[float]
    bgr: bool = False
    unavailable: Dict[str, str] = field(default_factory=dict)
    #: the weights' converted record (a .pkl's, or the conversion's); None: random init
    record: Optional[ConvertedRecord] = None

    @property
    def summary(self) -> Dict[str, Any]:
        """Where the weights come from, for the probe's result rows."""
        r = self.record
        return {"variant": r.variant if r else None, "iteration": r.iteration if r else None,
                "branch": r.branch if r else None, "source_layout": r.source_layout if r else None}

    @torch.no_grad()
    def features(self, x: torch.Tensor, levels: Iterable[str]) -> Dict[str, torch.Tensor]:
        levels = list(levels)
        if self.bgr:
            x = x.flip(1)
        if not any(lv.startswith("p") for lv in levels):
            return self.module.bottom_up(x)
        captured = {}
        handle = self.module.bottom_up.register_forward_hook(
            lambda mod, inp, out: captured.update(out))
        try:
            out = self.module(x)
        finally:
            handle.remove()
        return {**captured, **out}


def _infer_depth(keys: Iterable[str]) -> int:
    try:
        return resnet_depth(keys)
    except ResNetDepthError as e:
        raise ProbeWeightsError(str(e)) from e


def _backbone_cfg(depth: int, conv: Optional[Conventions] = None, fpn_width=None):
    """The converter's Mask R-CNN R50-FPN target (its ResNet + FPN: res2..res5, p2..p5) at
    ``depth`` and ``fpn_width`` (None: 256)."""
    return finetune_cfg_for("fpn", conv or Conventions(), depth, fpn_width)


def _build(cfg) -> torch.nn.Module:
    """Detectron2's ResNet + FPN of ``cfg`` with plain BN (equal to SyncBN in eval mode)."""
    cfg = cfg.clone()
    cfg.MODEL.RESNETS.NORM = "BN"
    cfg.MODEL.FPN.NORM = "BN"
    return build_resnet_fpn_backbone(cfg, ShapeSpec(channels=3)).eval()


def _bottom_up_names(state: Dict[str, torch.Tensor]) -> Dict[str, torch.Tensor]:
    """ResNet-only Detectron2 models (the FCN segmentor) name the encoder ``backbone.res*``;
    the probe's ResNet + FPN holds it under ``backbone.bottom_up.``."""
    return {bottom_up_name(k): v for k, v in state.items()}


def _d2_state(path: str, branch: Optional[str], unsafe_load: bool):
    """(state dict in Detectron2 names ``backbone.*``, converted record, depth)."""
    try:
        weights = read_weights(path, unsafe_load=unsafe_load)
    except WeightsReadError as e:
        raise ProbeWeightsError(str(e)) from e
    record = weights.record if isinstance(weights.record, ConvertedRecord) else None
    state = _bottom_up_names(weights.state_dict)
    if weights.layout != "detectron2" and not any(k.startswith(BOTTOM_UP) for k in state):
        depth = _infer_depth(state)
        try:
            state, report = convert_to_d2(state, branch=branch, meta=weights.pretrain_record,
                                          epoch=weights.epoch,
                                          target=target_shapes(
                                              _backbone_cfg(depth, fpn_width=fpn_channels(state))))
        except ConversionError as e:
            raise ProbeWeightsError(f"{path}: {e}") from e
        record = report.record
        state = {k: torch.as_tensor(v) for k, v in state.items()}
    if not any(k.startswith(BOTTOM_UP) for k in state):
        raise ProbeWeightsError(f"{path}: no backbone.bottom_up.* keys (expected Detectron2 names, "
                                "e.g. a decon-convert .pkl)")
    return state, record or ConvertedRecord.from_dict(None), _infer_depth(state)


def _available(loaded: set, module) -> Tuple[List[str], Dict[str, str]]:
    levels, unavailable = ["res2", "res3", "res4", "res5"], {}
    for s in (2, 3, 4, 5):
        needed = [f"fpn_lateral{t}" for t in range(s, 6)] + [f"fpn_output{s}"]
        missing = [n for n in needed
                   if not all(f"{n}.{k}" in loaded for k in getattr(module, n).state_dict())]
        if missing:
            unavailable[f"p{s}"] = f"no pre-trained {', '.join(missing)} in the weights"
        else:
            levels.append(f"p{s}")
    return levels, unavailable


def load_probe_backbone(spec: str, *, branch: Optional[str] = None, unsafe_load: bool = False,
                        random_geometry: Tuple[int, int] = (50, 256)) -> ProbeBackbone:
    """The backbone named by ``spec`` (see the module docstring), frozen, in eval mode;
    ``branch`` None: the one the converter exports (teacher; DenseCL checkpoints: student);
    ``random_geometry``: (ResNet depth, FPN width) of ``random`` rows."""
    if spec == "random" or spec.startswith("random:"):
        seed = int(spec.split(":", 1)[1]) if ":" in spec else 0
        torch.manual_seed(seed)
        module = _build(_backbone_cfg(random_geometry[0], fpn_width=random_geometry[1]))
        return ProbeBackbone(f"random init (seed {seed})", module.requires_grad_(False),
                             list(LEVELS), list(IMAGENET_PIXEL_MEAN), list(IMAGENET_PIXEL_STD))
    state, record, depth = _d2_state(spec, branch, unsafe_load)
    conv = record.conventions
    backbone = {k[len("backbone."):]: v for k, v in state.items() if k.startswith("backbone.")}
    module = _build(_backbone_cfg(depth, conv, fpn_channels(backbone)))
    own = module.state_dict()
    unexpected = sorted(k for k in backbone if k not in own)
    bad = sorted(k for k in backbone if k in own and own[k].shape != backbone[k].shape)
    missing = sorted(k for k in own if k.startswith("bottom_up.") and k not in backbone
                     and not k.endswith("num_batches_tracked"))
    if unexpected or bad or missing:
        raise ProbeWeightsError(
            f"{spec}: the backbone does not load completely (a random remainder would fake the "
            f"probe): {len(missing)} missing encoder key(s) {missing[:4]}, {len(unexpected)} "
            f"unexpected {unexpected[:4]}, {len(bad)} shape mismatch(es) {bad[:4]}")
    module.load_state_dict(backbone, strict=False)
    levels, unavailable = _available(set(backbone), module)
    fmt = conv.input_format
    mean = list(conv.pixel_mean or IMAGENET_PIXEL_MEAN)
    std = list(conv.pixel_std or IMAGENET_PIXEL_STD)
    if fmt == "BGR":  # the probe feeds RGB; keep the statistics in the order it normalises
        mean, std = mean[::-1], std[::-1]
    who = (f" ({record.branch or branch or 'teacher'})"
           if record.source_layout in ("ours", "authors") else "")
    return ProbeBackbone(f"{spec}{who}", module.requires_grad_(False), levels, mean, std,
                         bgr=fmt == "BGR", unavailable=unavailable, record=record)
