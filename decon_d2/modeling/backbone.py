"""Student/teacher backbones with Detectron2's Mask R-CNN R50-FPN key names.

- ``DeConEncoder``: the ResNet alone, held as ``bottom_up`` (encoder-only / plain SlotCon), so its
  keys are ``bottom_up.*`` exactly as inside Mask R-CNN's FPN backbone.
- ``DeConFCN`` (``modeling/fcn.py``): the ResNet plus the FCN decoder on res5 (DeCon-FCN).
- ``DeConFPN``: Detectron2's ``FPN`` (res2..res5, no top block during pre-training) whose forward
  also returns the ResNet features (the encoder head reads res5), applies ``Dropout2d`` to the
  lateral branches of res4, res3, res2 (DeCon-ML), and builds only the output convs whose level
  feeds a loss: with stock FPN the unused ``fpn_output3..5`` of DeCon-SL would get no gradient and
  DDP (without ``find_unused_parameters``) would fail. Missing output convs stay random in
  fine-tuning, as in the authors' runs.

Both zero-initialise the last norm gamma of each residual block (``conv3.norm.weight``), as the
torchvision ResNet used by SlotCon/DeCon does; Detectron2 leaves it at 1, and so does DenseCL's
ResNet (``MODEL.DECON.ZERO_INIT_RESIDUAL: False``). ``recompute_stages``
(``MODEL.DECON.BACKBONE_RECOMPUTE``, a memory option) checkpoints the ResNet stem and stages.
"""
import torch.nn.functional as F
from detectron2.layers import ShapeSpec
from detectron2.modeling import BACKBONE_REGISTRY, Backbone
from detectron2.modeling.backbone.fpn import FPN
from detectron2.modeling.backbone.resnet import (
    BasicBlock,
    BottleneckBlock,
    build_resnet_backbone,
)
from torch import nn

from .fcn import DeConFCN
from .norm import resolve_norm
from .recompute import resnet_features

__all__ = ["DeConEncoder", "DeConFPN", "build_decon_backbone", "zero_init_last_norm_"]


def zero_init_last_norm_(resnet):
    """Zero the gamma of each residual block's last norm, so every block starts as identity
    (``conv3`` of a bottleneck; ``conv2`` of the R18/R34 basic block used by tiny test runs)."""
    for m in resnet.modules():
        last = m.conv3 if isinstance(m, BottleneckBlock) else m.conv2 if isinstance(
            m, BasicBlock) else None
        if last is not None and getattr(last.norm, "weight", None) is not None:
            nn.init.zeros_(last.norm.weight)
    return resnet


class DeConEncoder(Backbone):
    """The ResNet only, stored as ``bottom_up`` so keys match Mask R-CNN's ``bottom_up.*``."""

    def __init__(self, bottom_up):
        super().__init__()
        self.bottom_up = bottom_up
        self.recompute_stages = False

    def forward(self, x):
        return resnet_features(self.bottom_up, x, self.recompute_stages)

    def output_shape(self):
        return self.bottom_up.output_shape()


class DeConFPN(FPN):
    """Detectron2 FPN returning ``res*`` and the requested ``p*`` maps, with skip dropout.

    Args:
        bottom_up, in_features, out_channels, norm: as Detectron2's ``FPN`` (no top block).
        out_levels (list[str]): FPN outputs to build and return, e.g. ["p2"] or ["p2".."p5"].
        skip_dropout (float): ``Dropout2d`` probability on every lateral but the coarsest.
    """

    def __init__(self, bottom_up, in_features, out_channels, norm, *, out_levels, skip_dropout):
        super().__init__(bottom_up, in_features, out_channels, norm=norm, top_block=None)
        unknown = set(out_levels) - set(self._out_features)
        if not out_levels or unknown:
            raise ValueError(f"out_levels {out_levels} must be a non-empty subset of "
                             f"{self._out_features}")
        self.out_levels = [f for f in self._out_features if f in out_levels]
        # Drop the output convs that feed no loss (decided here, at construction, from config).
        for name in self._out_features:
            if name not in self.out_levels:
                delattr(self, "fpn_output" + name[1:])
        self.output_convs = [
            getattr(self, "fpn_output" + name[1:], None) for name in self._out_features
        ][::-1]
        self._out_features = list(self.out_levels)
        # The top-down pass stops at the finest level in use (DECODER_LEVELS without p2, a cost
        # dial): laterals below it are never run; they are frozen so that neither DDP nor the
        # optimiser expects a gradient for them, and keep their keys (Mask R-CNN layout).
        finest = min(int(f[1:]) for f in self.out_levels)
        self._n_top_down = sum(int(f[3:]) >= finest for f in self.in_features)
        for name in self.in_features:
            if int(name[3:]) < finest:
                getattr(self, "fpn_lateral" + name[3:]).requires_grad_(False)
        # No parameters, hence no state-dict keys. p is changed by ``set_skip_dropout``.
        self.skip_dropout = nn.Dropout2d(skip_dropout)
        self.recompute_stages = False

    def set_skip_dropout(self, p):
        """Change the skip-branch dropout probability (the teacher may run without it)."""
        self.skip_dropout.p = float(p)

    def forward(self, x):
        """Return ``{res2..res5 (as the ResNet gives them), p* in out_levels}``."""
        feats = resnet_features(self.bottom_up, x, self.recompute_stages)
        # coarse to fine, down to the finest level in use
        names = self.in_features[::-1][: self._n_top_down]
        prev = self.lateral_convs[0](feats[names[0]])
        outs = {}
        for idx, name in enumerate(names):
            if idx > 0:
                lateral = self.skip_dropout(self.lateral_convs[idx](feats[name]))
                prev = lateral + F.interpolate(prev, scale_factor=2.0, mode="nearest")
            if self.output_convs[idx] is not None:
                outs["p" + name[3:]] = self.output_convs[idx](prev)
        return {**feats, **outs}

    def output_shape(self):
        shapes = self.bottom_up.output_shape()
        shapes.update(super().output_shape())
        return shapes


@BACKBONE_REGISTRY.register()
def build_decon_backbone(cfg, input_shape=None, *, out_levels=None, skip_dropout=0.0,
                         decoder_type="FPN"):
    """Detectron2 ResNet (+ its decoder when ``out_levels`` is non-empty: DeConFPN, or DeConFCN
    for ``decoder_type`` "FCN", built from ``MODEL.DECON.FCN``) for pre-training.

    Norms are resolved for the current process layout (``norm.resolve_norm``). Requires
    ``MODEL.BACKBONE.FREEZE_AT == 0``: a frozen stem would silently not pre-train.
    Called by ``DeCon`` with ``out_levels`` from ``MODEL.DECON.DECODER_LEVELS``; through the registry
    (``MODEL.BACKBONE.NAME``) it builds the encoder only.
    """
    if cfg.MODEL.BACKBONE.FREEZE_AT != 0:
        raise ValueError("DeCon pre-training needs MODEL.BACKBONE.FREEZE_AT = 0 "
                         f"(got {cfg.MODEL.BACKBONE.FREEZE_AT}).")
    if input_shape is None:
        input_shape = ShapeSpec(channels=len(cfg.MODEL.PIXEL_MEAN))
    cfg = cfg.clone()
    cfg.defrost()
    cfg.MODEL.RESNETS.NORM = resolve_norm(cfg.MODEL.RESNETS.NORM, cfg.MODEL.DEVICE)
    bottom_up = build_resnet_backbone(cfg, input_shape)
    if cfg.MODEL.DECON.ZERO_INIT_RESIDUAL:
        zero_init_last_norm_(bottom_up)
    if not out_levels:
        return _recompute_stages(DeConEncoder(bottom_up), cfg)
    if decoder_type == "FCN":
        f = cfg.MODEL.DECON.FCN
        return _recompute_stages(DeConFCN(
            bottom_up, cfg.MODEL.DECON.ENCODER_IN_FEATURE, channels=f.CONVS_DIM,
            num_convs=f.NUM_CONVS, dilation=f.DILATION,
            norm=resolve_norm(f.NORM, cfg.MODEL.DEVICE)), cfg)
    if not cfg.MODEL.FPN.IN_FEATURES:
        raise ValueError("A DeCon decoder needs MODEL.FPN.IN_FEATURES (res2..res5).")
    return _recompute_stages(DeConFPN(
        bottom_up,
        cfg.MODEL.FPN.IN_FEATURES,
        cfg.MODEL.FPN.OUT_CHANNELS,
        resolve_norm(cfg.MODEL.FPN.NORM, cfg.MODEL.DEVICE),
        out_levels=out_levels,
        skip_dropout=skip_dropout,
    ), cfg)


def _recompute_stages(backbone, cfg):
    backbone.recompute_stages = bool(cfg.MODEL.DECON.BACKBONE_RECOMPUTE)
    return backbone
