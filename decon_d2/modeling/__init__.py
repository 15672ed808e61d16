"""The DeCon pre-training model and the segmentation pieces of fine-tuning. Importing this
package registers ``DeCon`` and ``SlidingWindowSegmentor`` (META_ARCH_REGISTRY),
``build_decon_backbone`` and ``build_resnet_backbone_dilated`` (BACKBONE_REGISTRY: the segmentation
ResNet at output stride 32/16/8), ``SlotConHead`` (SSL_HEAD_REGISTRY), ``FCNHead``
(SEM_SEG_HEADS_REGISTRY) and ``Res5ROIHeadsExtraNorm`` (ROI_HEADS_REGISTRY: the VOC C4 head)."""
from .backbone import DeConEncoder, DeConFPN, build_decon_backbone
from .dilated_resnet import build_resnet_backbone_dilated
from .fcn import DeConFCN
from .fcn_head import FCNHead
from .heads import SSL_HEAD_REGISTRY, SlotConHead, build_ssl_head
from .meta_arch import DeCon
from .res5_extra_norm import Res5ROIHeadsExtraNorm
from .sliding_window import SlidingWindowSegmentor
from .decoder_spec import FCN_LEVELS, FPN_LEVELS, decoder_spec

#: meta-architectures that are self-supervised pre-training (the rest are fine-tuned models)
PRETRAINING_ARCHITECTURES = ("DeCon",)
#: fine-tuned models that do semantic segmentation (trained and evaluated by SemSegTrainer)
SEMSEG_ARCHITECTURES = ("SemanticSegmentor", "SlidingWindowSegmentor")

__all__ = [
    "DeCon",
    "DeConEncoder",
    "DeConFCN",
    "DeConFPN",
    "FCNHead",
    "FCN_LEVELS",
    "FPN_LEVELS",
    "PRETRAINING_ARCHITECTURES",
    "Res5ROIHeadsExtraNorm",
    "SEMSEG_ARCHITECTURES",
    "SSL_HEAD_REGISTRY",
    "SlidingWindowSegmentor",
    "SlotConHead",
    "build_decon_backbone",
    "build_resnet_backbone_dilated",
    "build_ssl_head",
    "decoder_spec",
]
