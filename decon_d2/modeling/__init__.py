"""The DeCon pre-training model. Importing this package registers ``DeCon`` (META_ARCH_REGISTRY),
``build_decon_backbone`` (BACKBONE_REGISTRY) and ``SlotConHead`` (SSL_HEAD_REGISTRY)."""
from .backbone import DeConEncoder, DeConFPN, build_decon_backbone
from .heads import SSL_HEAD_REGISTRY, SlotConHead, build_ssl_head
from .meta_arch import DeCon
from .variants import FPN_LEVELS, decoder_spec, variant_label

#: meta-architectures that are self-supervised pre-training (the rest are fine-tuned models)
PRETRAINING_ARCHITECTURES = ("DeCon",)

__all__ = [
    "DeCon",
    "DeConEncoder",
    "DeConFPN",
    "FPN_LEVELS",
    "PRETRAINING_ARCHITECTURES",
    "SSL_HEAD_REGISTRY",
    "SlotConHead",
    "build_decon_backbone",
    "build_ssl_head",
    "decoder_spec",
    "variant_label",
]
