"""``add_segmentation_keys(cfg)``: keys of the FCN decoder (pre-training) and of semantic
segmentation fine-tuning (FCN head, sliding-window inference, poly schedule, decoder transfer).

Detectron2 keys that keep their meaning are reused: ``MODEL.SEM_SEG_HEAD.{NAME, IN_FEATURES,
NUM_CLASSES, CONVS_DIM, NORM, IGNORE_VALUE, LOSS_WEIGHT}``, ``MODEL.RESNETS.RES5_DILATION``
(output stride 16; 8 with ``build_resnet_backbone_dilated``), ``INPUT.CROP.{ENABLED, TYPE,
SIZE}``, ``SOLVER.LR_SCHEDULER_NAME`` and ``SOLVER.BASE_LR_END`` (the poly schedule's final lr).
Needs ``MODEL.DECON`` (``model.py``) to exist already.
"""
from detectron2.config import CfgNode as CN


def add_segmentation_keys(cfg):
    """Declare the FCN, sliding-window, poly-lr and transfer keys with their defaults, in place."""
    fcn = cfg.MODEL.DECON.FCN = CN()
    # Width of the pre-training FCN decoder on res5 (MODEL.DECON.DECODER_TYPE "FCN"): 256 as the
    # authors' VOC/Cityscapes head, 512 for their ADE20K head.
    fcn.CONVS_DIM = 256
    # Number of 3x3 conv-norm-ReLU layers of that decoder (the authors' and mmseg's FCNHead: 2).
    fcn.NUM_CONVS = 2
    # Dilation of its 3x3 convs (padding = dilation). The authors use 6 on the stride-32 res5 map
    # (7x7 at 224 px), where off-centre taps mostly read zero padding: docs/method.md §7.7.
    fcn.DILATION = 6
    # Norm of its conv layers (resolved like the backbone's: "SyncBN" is BN in one process).
    fcn.NORM = "SyncBN"

    head = cfg.MODEL.SEM_SEG_HEAD.FCN = CN()
    # Number of 3x3 conv-norm-ReLU layers of the fine-tuning FCNHead (before the 1x1 classifier).
    head.NUM_CONVS = 2
    # Dilation of those convs: 6 for VOC/Cityscapes (the protocol's "D6"), 1 for ADE20K.
    head.DILATION = 6
    # align_corners of the bilinear upsampling of the logits to the input size: True in the
    # VOC-513/Cityscapes-769 protocol (crops of 16k + 1 pixels), False for ADE20K 512.
    head.ALIGN_CORNERS = True
    # True: cross-entropy summed over labelled pixels divided by ALL pixels (ignored ones
    # included), as mmsegmentation 0.x (the protocol's); False: mean over labelled pixels only.
    head.LOSS_OVER_ALL_PIXELS = True
    # mmseg's concat_input: a 3x3 conv-norm-ReLU on [input, conv stack output] before the
    # classifier (fcn_r50-d8, the ADE20K reference: True; the FCN-D6 protocol: False).
    head.CONCAT_INPUT = False
    # Dropout2d before the 1x1 classifier (fcn_r50-d8: 0.1; FCN-D6: 0).
    head.DROPOUT = 0.0
    aux = head.AUX = CN()
    # Feature of the auxiliary FCN head (fcn_r50-d8: "res4", which must be in
    # MODEL.RESNETS.OUT_FEATURES); "" = no auxiliary head (FCN-D6). Training only.
    aux.IN_FEATURE = ""
    # Its width, conv count (3x3, dilation 1), dropout and loss weight (fcn_r50-d8: 256, 1, 0.1,
    # 0.4); the loss is "loss_sem_seg_aux".
    aux.CONVS_DIM = 256
    aux.NUM_CONVS = 1
    aux.DROPOUT = 0.1
    aux.LOSS_WEIGHT = 0.4

    # First block of a dilated ResNet stage at half the stage's dilation (mmseg's
    # contract_dilation, True in the references); read by build_resnet_backbone_dilated only
    # (modeling/dilated_resnet.py), whose RES5_DILATION may also be 4 (output stride 8).
    cfg.MODEL.RESNETS.CONTRACT_DILATION = True

    # Largest fraction of a training crop one class may cover (Detectron2's
    # RandomCrop_CategoryAreaConstraint, mmseg's cat_max_ratio: 0.75 in mmseg's ADE20K pipeline;
    # the authors' VOC/Cityscapes pipelines crop without it); 1.0 = any (a plain random crop).
    cfg.INPUT.CROP.SINGLE_CATEGORY_MAX_AREA = 1.0
    # mmseg's PhotoMetricDistortion after the flip (random brightness, contrast, saturation, hue;
    # finetune/photometric.py): on in mmseg's ADE20K pipeline, off in the authors' VOC/Cityscapes.
    cfg.INPUT.PHOTOMETRIC_DISTORTION = False

    sw = cfg.TEST.SLIDING_WINDOW = CN()
    # Sliding-window inference of SlidingWindowSegmentor (Cityscapes: 769 windows, stride 513);
    # False = one forward pass on the whole image.
    sw.ENABLED = False
    # Window (height, width) in pixels of the test-time (resized) image.
    sw.CROP_SIZE = (769, 769)
    # Step between window origins (height, width); overlapping logits are averaged.
    sw.STRIDE = (513, 513)

    # Exponent of SOLVER.LR_SCHEDULER_NAME "WarmupPolyLR": lr = end + (base - end) * (1 - t)^p,
    # t = iteration / MAX_ITER, end = SOLVER.BASE_LR_END (mmsegmentation's poly: 0.9, min 1e-4).
    cfg.SOLVER.POLY_LR_POWER = 0.9

    cfg.MODEL.TRANSFER = CN()
    # Decoder weights found in MODEL.WEIGHTS (a converted FPN or FCN head): "pretrained" loads
    # them (homogeneous transfer), "random" leaves the decoder at its fresh initialisation
    # (encoder-only transfer with the same file). Ignored when --resume finds a checkpoint.
    cfg.MODEL.TRANSFER.DECODER = "pretrained"
    return cfg
