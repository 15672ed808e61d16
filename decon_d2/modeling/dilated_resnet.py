"""``build_resnet_backbone_dilated`` (BACKBONE_REGISTRY): the dilated ResNet of the mmseg FCN
protocols, with Detectron2's ResNet modules and key names (``backbone.res2.*`` ...).

Detectron2's ``build_resnet_backbone`` dilates res5 only (``RES5_DILATION`` 1 or 2) and gives
every block of res5 that dilation. The segmentation references (docs/protocols.md) use mmseg's
ResNet with ``contract_dilation``: the first block of a dilated stage has half its dilation.
Here ``MODEL.RESNETS.RES5_DILATION`` names the output stride as the references' backbones do:

| RES5_DILATION | strides res2..res5 | dilations res2..res5 | output stride |
|---|---|---|---|
| 1 | 1, 2, 2, 2 | 1, 1, 1, 1 | 32 |
| 2 (FCN-D6, VOC/Cityscapes) | 1, 2, 2, 1 | 1, 1, 1, 2 | 16 |
| 4 (fcn_r50-d8, ADE20K) | 1, 2, 1, 1 | 1, 1, 2, 4 | 8 |

``MODEL.RESNETS.CONTRACT_DILATION`` (True, as mmseg) sets block 0 of res4/res5 to half the
stage's dilation; False gives Detectron2's convention. ``32 // RES5_DILATION`` is the feature
stride of res5 in every row, so geometry read from that key elsewhere stays right, and
``RES5_DILATION: 1`` is the plain stride-32 network of pre-training (same weights).
"""
from detectron2.layers import ShapeSpec
from detectron2.modeling import BACKBONE_REGISTRY
from detectron2.modeling.backbone.resnet import BasicStem, BottleneckBlock, ResNet

__all__ = ["build_resnet_backbone_dilated", "stage_geometry"]

_BLOCKS = {50: (3, 4, 6, 3), 101: (3, 4, 23, 3), 152: (3, 8, 36, 3)}
#: RES5_DILATION -> (first-block stride, dilation) of res2..res5
_GEOMETRY = {1: ((1, 1), (2, 1), (2, 1), (2, 1)),
             2: ((1, 1), (2, 1), (2, 1), (1, 2)),
             4: ((1, 1), (2, 1), (1, 2), (1, 4))}


def stage_geometry(res5_dilation: int, contract: bool, num_blocks):
    """Per stage (res2..res5): (stride per block, dilation per block)."""
    if res5_dilation not in _GEOMETRY:
        raise ValueError(f"MODEL.RESNETS.RES5_DILATION is {res5_dilation}: set 1 (output stride "
                         "32), 2 (16) or 4 (8) for build_resnet_backbone_dilated")
    out = []
    for (stride, dilation), n in zip(_GEOMETRY[res5_dilation], num_blocks):
        first = dilation // 2 if contract and dilation > 1 else dilation
        out.append(([stride] + [1] * (n - 1), [first] + [dilation] * (n - 1)))
    return out


@BACKBONE_REGISTRY.register()
def build_resnet_backbone_dilated(cfg, input_shape: ShapeSpec):
    """A Detectron2 ``ResNet`` (bottleneck blocks) with the geometry of the table above."""
    r = cfg.MODEL.RESNETS
    if r.DEPTH not in _BLOCKS:
        raise ValueError(f"MODEL.RESNETS.DEPTH is {r.DEPTH}: build_resnet_backbone_dilated "
                         f"builds bottleneck ResNets, set one of {sorted(_BLOCKS)}")
    if any(r.DEFORM_ON_PER_STAGE):
        raise ValueError("MODEL.RESNETS.DEFORM_ON_PER_STAGE is not supported by "
                         "build_resnet_backbone_dilated: set it to [False, False, False, False]")
    stem = BasicStem(in_channels=input_shape.channels, out_channels=r.STEM_OUT_CHANNELS,
                     norm=r.NORM)
    in_ch, out_ch = r.STEM_OUT_CHANNELS, r.RES2_OUT_CHANNELS
    bottleneck = r.NUM_GROUPS * r.WIDTH_PER_GROUP
    stages = []
    geometry = stage_geometry(r.RES5_DILATION, r.CONTRACT_DILATION, _BLOCKS[r.DEPTH])
    for n, (strides, dilations) in zip(_BLOCKS[r.DEPTH], geometry):
        stages.append(ResNet.make_stage(
            block_class=BottleneckBlock, num_blocks=n, stride_per_block=strides,
            dilation_per_block=dilations, in_channels=in_ch, out_channels=out_ch,
            bottleneck_channels=bottleneck, num_groups=r.NUM_GROUPS, norm=r.NORM,
            stride_in_1x1=r.STRIDE_IN_1X1))
        in_ch, out_ch, bottleneck = out_ch, out_ch * 2, bottleneck * 2
    return ResNet(stem, stages, out_features=r.OUT_FEATURES, freeze_at=cfg.MODEL.BACKBONE.FREEZE_AT)
