"""``add_slotcon_config(cfg)``: ``MODEL.DECON.SLOTCON.*``, the keys of ``SlotConHead``
(``MODEL.DECON.HEAD.NAME: "SlotConHead"``; docs/method.md §2.1). Its spec (``spec.py``) hands it
to ``add_decon_config``, which adds the node of every registered head.
"""
from detectron2.config import CfgNode as CN

__all__ = ["add_slotcon_config"]


def add_slotcon_config(cfg):
    """Declare every SlotCon key with its default, in place."""
    _C = cfg.MODEL.DECON.SLOTCON = CN()
    # K, number of prototypes of the encoder head (256 for COCO, 2048 for ImageNet in SlotCon).
    _C.NUM_PROTOTYPES = 256
    # K of each decoder head; 0 = same as NUM_PROTOTYPES (the authors' default).
    _C.NUM_PROTOTYPES_DEC = 0
    # Hidden width of the encoder projector (1x1-conv MLP in -> hidden -> hidden -> out).
    _C.PROJ_HIDDEN_DIM = 4096
    # Hidden width of the decoder projectors; 0 = same as PROJ_HIDDEN_DIM (a cost dial: the p2
    # projector dominates the FLOPs of DeCon).
    _C.DEC_PROJ_HIDDEN_DIM = 0
    # Activation checkpointing of the decoder projectors (memory dial, off by default): their
    # 4096-channel hidden activations at p2 resolution dominate training memory; on, only the
    # projector input is kept and the projector forward runs again during backward (same loss and
    # gradients, norm running statistics updated once; costs about one extra projector forward).
    _C.DEC_PROJ_CHECKPOINT = False
    # How the projectors compute (same numbers either way, docs/benchmarks.md): "gemm" = matrix
    # products on the pixels x channels matrix of both views at once, norm statistics per view
    # (faster); "conv" = 1x1 convolutions view by view (the reference). Norms other than the
    # BatchNorm family fall back to "conv".
    _C.PROJ_IMPL = "gemm"
    # Memory option of every projector ("gemm" only): one view at a time, only the pre-norm
    # hidden activations kept for backward, norm + GELU recomputed there (elementwise work, no
    # extra GEMM); same numbers, about 2 % more step time on CPU (docs/benchmarks.md).
    _C.PROJ_RECOMPUTE_NORM_ACT = False
    # Output width of the projectors = prototype and slot dimension.
    _C.PROJ_OUT_DIM = 256
    # Hidden width of the student-only slot predictor (MLP out -> hidden -> hidden -> out).
    _C.PRED_HIDDEN_DIM = 4096
    # Teacher temperature of the group loss; also the grouping attention temperature.
    _C.TEACHER_TEMP = 0.07
    # Student temperature of the group loss.
    _C.STUDENT_TEMP = 0.1
    # Temperature of the slot contrastive (InfoNCE) loss; the loss is also scaled by 2 * this.
    _C.CONTRAST_TEMP = 0.2
    # w_g of the encoder head: L = w_g * L_group + (1 - w_g) * L_contrast.
    _C.GROUP_LOSS_WEIGHT = 0.5
    # w_g of every decoder head.
    _C.GROUP_LOSS_WEIGHT_DEC = 0.5
    # EMA momentum of each head's center buffer (c <- m * c + (1 - m) * batch mean).
    _C.CENTER_MOMENTUM = 0.9
    # Norm of the projector and predictor hidden layers (resolved by modeling/norm.py, like the
    # backbone's): "SyncBN" becomes "BN" in one process and naive sync BN on CPU multi-process.
    _C.NORM = "SyncBN"
    return cfg
