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
    # Each registered head adds its own node, MODEL.DECON.<NODE> (its folder's config.py,
    # declared by its spec: decon_d2/head_specs.py); add_decon_config adds them all.

    # MoCo's batch shuffle (shuffle-BN) for the teacher backbone: with several processes the
    # teacher sees its views in a batch order shuffled across processes and its features are
    # unshuffled afterwards, so per-process BN statistics do not pair a query with its key.
    # One process: nothing to shuffle across, no effect. Use with RESNETS/FPN.NORM "BN".
    _C.MODEL.DECON.TEACHER_BATCH_SHUFFLE = False
    # Zero-initialise the last norm gamma of every residual block (SlotCon, torchvision's
    # zero_init_residual); DenseCL's ResNet does not (False).
    _C.MODEL.DECON.ZERO_INIT_RESIDUAL = True
    return cfg
