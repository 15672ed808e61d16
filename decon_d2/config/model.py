"""``add_model_keys(cfg)``: the ``MODEL.DECON.*`` keys of the DeCon meta-architecture.

Only new keys are declared here. Standard Detectron2 keys a pre-training config must set
(``MODEL.META_ARCHITECTURE: "DeCon"``, ImageNet RGB ``PIXEL_MEAN``/``PIXEL_STD``,
``RESNETS.STRIDE_IN_1X1: False``, ``RESNETS.OUT_FEATURES: [res2..res5]``, ``BACKBONE.FREEZE_AT: 0``,
``RESNETS.NORM``/``FPN.NORM: "SyncBN"``) belong in ``configs/*.yaml``; see ``docs/model.md``.
"""
from detectron2.config import CfgNode as CN


def add_model_keys(cfg):
    """Declare every ``MODEL.DECON.*`` key with its default, in place."""
    _C = cfg
    _C.MODEL.DECON = CN()
    # Decoder on the encoder: "FPN" (Detectron2's FPN on res2..res5, DeCon-SL/-ML), "FCN" (two
    # conv layers on res5, DeCon-FCN; MODEL.DECON.FCN.*) or "" (none: encoder-only, plain
    # SlotCon). The shipped leaf configs set it, with the next three keys.
    _C.MODEL.DECON.DECODER_TYPE = "FPN"
    # Decoder levels that carry a loss, a non-empty subset of ["p2", "p3", "p4", "p5"] with the
    # FPN, ["fcn"] with the FCN, [] without a decoder: DeCon-SL ["p2"], DeCon-ML all four (deep
    # supervision, equal weights).
    # The FPN stops at the finest level listed; laterals below it stay frozen at init (no
    # gradient, no optimiser state), so ["p3", "p4", "p5"] is a cost dial (docs/benchmarks.md).
    _C.MODEL.DECON.DECODER_LEVELS = ["p2", "p3", "p4", "p5"]
    # alpha in L = alpha * L_enc + (1 - alpha) * mean_levels(L_dec): in [0, 1) with a decoder
    # (0 builds no encoder head), exactly 1.0 without one.
    _C.MODEL.DECON.ENCODER_LOSS_WEIGHT = 0.5
    # Dropout2d probability on the FPN lateral (skip) branches of res4, res3, res2: 0.5 in
    # DeCon-ML, 0.0 in DeCon-SL; must be 0.0 without a decoder and with the FCN (no skips).
    _C.MODEL.DECON.SKIP_CHANNEL_DROPOUT = 0.5
    # Memory option (docs/benchmarks.md): the student ResNet's stem and stages keep only their
    # inputs for backward and run their forward again there (about +2 % step time on CPU); same
    # losses, gradients and norm statistics.
    _C.MODEL.DECON.BACKBONE_RECOMPUTE = False
    # Backbone feature the encoder head reads (the last ResNet stage).
    _C.MODEL.DECON.ENCODER_IN_FEATURE = "res5"
    # Whether the teacher decoder applies the skip dropout too (the authors' code: yes, it runs
    # in training mode with independent masks).
    _C.MODEL.DECON.TEACHER_DROPOUT = True
    # Continual pre-training: the branch of a two-branch MODEL.WEIGHTS file (a decon-d2 or the
    # authors'/SlotCon checkpoint) that initialises a new run, "teacher" or "student"; "" = the
    # one the converter exports (the file's decon_meta export_branch: the teacher, the student of
    # DenseCL heads; teacher when not recorded). Student and teacher both start from it
    # (engine/initial_weights.py).
    _C.MODEL.DECON.INIT_BRANCH = ""

    _C.MODEL.DECON.HEAD = CN()
    # Name of the loss head in SSL_HEAD_REGISTRY (one instance on the encoder, one per level).
    _C.MODEL.DECON.HEAD.NAME = "SlotConHead"

    _C.MODEL.DECON.SLOTCON = CN()
    # K, number of prototypes of the encoder head (256 for COCO, 2048 for ImageNet in SlotCon).
    _C.MODEL.DECON.SLOTCON.NUM_PROTOTYPES = 256
    # K of each decoder head; 0 = same as NUM_PROTOTYPES (the authors' default).
    _C.MODEL.DECON.SLOTCON.NUM_PROTOTYPES_DEC = 0
    # Hidden width of the encoder projector (1x1-conv MLP in -> hidden -> hidden -> out).
    _C.MODEL.DECON.SLOTCON.PROJ_HIDDEN_DIM = 4096
    # Hidden width of the decoder projectors; 0 = same as PROJ_HIDDEN_DIM (a cost dial: the p2
    # projector dominates the FLOPs of DeCon).
    _C.MODEL.DECON.SLOTCON.DEC_PROJ_HIDDEN_DIM = 0
    # Activation checkpointing of the decoder projectors (memory dial, off by default): their
    # 4096-channel hidden activations at p2 resolution dominate training memory; on, only the
    # projector input is kept and the projector forward runs again during backward (same loss and
    # gradients, norm running statistics updated once; costs about one extra projector forward).
    _C.MODEL.DECON.SLOTCON.DEC_PROJ_CHECKPOINT = False
    # How the projectors compute (same numbers either way, docs/benchmarks.md): "gemm" = matrix
    # products on the pixels x channels matrix of both views at once, norm statistics per view
    # (faster); "conv" = 1x1 convolutions view by view (the reference). Norms other than the
    # BatchNorm family fall back to "conv".
    _C.MODEL.DECON.SLOTCON.PROJ_IMPL = "gemm"
    # Memory option of every projector ("gemm" only): one view at a time, only the pre-norm
    # hidden activations kept for backward, norm + GELU recomputed there (elementwise work, no
    # extra GEMM); same numbers, about 2 % more step time on CPU (docs/benchmarks.md).
    _C.MODEL.DECON.SLOTCON.PROJ_RECOMPUTE_NORM_ACT = False
    # Output width of the projectors = prototype and slot dimension.
    _C.MODEL.DECON.SLOTCON.PROJ_OUT_DIM = 256
    # Hidden width of the student-only slot predictor (MLP out -> hidden -> hidden -> out).
    _C.MODEL.DECON.SLOTCON.PRED_HIDDEN_DIM = 4096
    # Teacher temperature of the group loss; also the grouping attention temperature.
    _C.MODEL.DECON.SLOTCON.TEACHER_TEMP = 0.07
    # Student temperature of the group loss.
    _C.MODEL.DECON.SLOTCON.STUDENT_TEMP = 0.1
    # Temperature of the slot contrastive (InfoNCE) loss; the loss is also scaled by 2 * this.
    _C.MODEL.DECON.SLOTCON.CONTRAST_TEMP = 0.2
    # w_g of the encoder head: L = w_g * L_group + (1 - w_g) * L_contrast.
    _C.MODEL.DECON.SLOTCON.GROUP_LOSS_WEIGHT = 0.5
    # w_g of every decoder head.
    _C.MODEL.DECON.SLOTCON.GROUP_LOSS_WEIGHT_DEC = 0.5
    # EMA momentum of each head's center buffer (c <- m * c + (1 - m) * batch mean).
    _C.MODEL.DECON.SLOTCON.CENTER_MOMENTUM = 0.9
    # Norm of the projector and predictor hidden layers (resolved by modeling/norm.py, like the
    # backbone's): "SyncBN" becomes "BN" in one process and naive sync BN on CPU multi-process.
    _C.MODEL.DECON.SLOTCON.NORM = "SyncBN"
    return cfg
