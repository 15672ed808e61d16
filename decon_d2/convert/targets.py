"""The models a checkpoint is converted for, as configs, and their key sets.

Built-in targets (``--target``, when no ``--config`` is given): Mask R-CNN R50-FPN (``fpn``) and
the VOC protocol's Faster R-CNN R50-C4 (``c4``, ``c4_target.py``), both model-zoo configs with the
SSL transfer overlay (docs/method.md §4.4). The key set of a target comes from Detectron2's own
builder (``decon_d2.modeling.model_shapes``: the model built on the ``meta`` device), not from a
hand list, so a Detectron2 upgrade that renames a module is caught by the converter's shape and
unknown-key checks. The probe, the converter's verification reference and the CLI ask here, so
"which model a checkpoint becomes" is answered once.
"""
from typing import Dict, Tuple

from ..config import build_cfg
from ..conventions import IMAGENET_PIXEL_MEAN, IMAGENET_PIXEL_STD, Conventions
from ..modeling.shapes import model_shapes
from ..weights import set_resnet_depth
from .errors import ConversionError

__all__ = ["pretraining_overlay", "ssl_model_zoo_cfg", "default_finetune_cfg",
           "c4_finetune_cfg", "TARGETS", "finetune_cfg_for", "target_shapes"]


def pretraining_overlay(cfg, conventions: Conventions, depth: int = 50, fpn_width=None):
    """Make a mutable ``cfg``'s ResNet and input those of the pre-training: ``depth`` (and its res2
    width), stride in the 1x1 conv, pixel statistics (None: ImageNet's), input format, the FPN
    width when given (None: the config's); every stage trained (FREEZE_AT 0), no weights, CPU.
    Norms are the caller's: fine-tuning uses SyncBN, the pre-training network its own."""
    set_resnet_depth(cfg, depth)
    cfg.MODEL.RESNETS.STRIDE_IN_1X1 = bool(conventions.stride_in_1x1)
    cfg.MODEL.BACKBONE.FREEZE_AT = 0
    cfg.MODEL.PIXEL_MEAN = list(conventions.pixel_mean or IMAGENET_PIXEL_MEAN)
    cfg.MODEL.PIXEL_STD = list(conventions.pixel_std or IMAGENET_PIXEL_STD)
    cfg.INPUT.FORMAT = conventions.input_format
    if fpn_width:
        cfg.MODEL.FPN.OUT_CHANNELS = int(fpn_width)
    cfg.MODEL.WEIGHTS = ""
    cfg.MODEL.DEVICE = "cpu"
    return cfg


def ssl_model_zoo_cfg(base_yaml, pixel_mean=None, pixel_std=None, input_format="RGB",
                      stride_in_1x1=False):
    """A model-zoo base config with the SSL transfer overlay: ResNet-50, SyncBN, FREEZE_AT 0,
    the pre-training's input conventions, no weights, CPU (the model the converter targets)."""
    from detectron2 import model_zoo

    cfg = build_cfg(model_zoo.get_config_file(base_yaml))
    cfg.defrost()
    cfg.MODEL.RESNETS.NORM = "SyncBN"
    return pretraining_overlay(cfg, Conventions(input_format, pixel_mean, pixel_std,
                                                stride_in_1x1))


def default_finetune_cfg(pixel_mean=None, pixel_std=None, input_format="RGB", stride_in_1x1=False):
    """The fine-tune config used when none is given: model-zoo Base-RCNN-FPN + the SSL overlay.

    Mirrors the SlotCon/DeCon transfer config (docs/method.md §4.4): Mask R-CNN R50-FPN, SyncBN in
    the backbone and FPN, FREEZE_AT 0, RGB input with the pre-training's pixel statistics and
    STRIDE_IN_1X1 False. Built in code so that the converter works from an installed package;
    pass ``--config`` to check the config you will actually fine-tune with.
    """
    cfg = ssl_model_zoo_cfg("Base-RCNN-FPN.yaml", pixel_mean, pixel_std, input_format,
                            stride_in_1x1)
    cfg.MODEL.MASK_ON = True
    cfg.MODEL.FPN.NORM = "SyncBN"
    return cfg


def c4_finetune_cfg(pixel_mean=None, pixel_std=None, input_format="RGB", stride_in_1x1=False):
    """Faster R-CNN R50-C4 as ``configs/finetune/faster_rcnn_R_50_C4_voc0712_24k_decon.yaml``
    builds it (model only): model-zoo Base-RCNN-C4 + ``Res5ROIHeadsExtraNorm``, SyncBN,
    FREEZE_AT 0, 20 VOC classes, no mask head, the pre-training's input conventions."""
    cfg = ssl_model_zoo_cfg("Base-RCNN-C4.yaml", pixel_mean, pixel_std, input_format,
                            stride_in_1x1)
    cfg.MODEL.MASK_ON = False
    cfg.MODEL.ROI_HEADS.NAME = "Res5ROIHeadsExtraNorm"
    cfg.MODEL.ROI_HEADS.NUM_CLASSES = 20
    return cfg


#: ``--target`` of the converter CLI (used when no ``--config`` is given)
TARGETS = {"fpn": default_finetune_cfg, "c4": c4_finetune_cfg}


def finetune_cfg_for(target: str, conventions, depth: int = 50, fpn_width=None):
    """The built-in fine-tune config of ``target`` ("fpn" or "c4") with ``conventions``, for a
    ResNet of ``depth`` and an FPN of ``fpn_width`` channels (the checkpoint's, read off its
    tensors by ``decon_d2.weights.geometry``; None: Detectron2's 256)."""
    if target not in TARGETS:
        raise ValueError(f"--target must be one of {sorted(TARGETS)}, got {target!r}")
    if target == "c4" and depth < 50:
        raise ConversionError(f"--target c4 needs a bottleneck ResNet (50/101/152): Detectron2's "
                              f"Res5ROIHeads has no basic-block res5, and the checkpoint is a "
                              f"ResNet-{depth}; use --target fpn or --config <your config>")
    cfg = TARGETS[target](conventions.pixel_mean, conventions.pixel_std,
                          conventions.input_format, conventions.stride_in_1x1)
    if fpn_width and target == "fpn":
        cfg.MODEL.FPN.OUT_CHANNELS = int(fpn_width)
    return set_resnet_depth(cfg, depth)


def target_shapes(cfg) -> Dict[str, Tuple[int, ...]]:
    """Names and shapes of every state-dict entry of the target model ``cfg`` builds (no memory
    used): the converter's ground truth."""
    return model_shapes(cfg)
