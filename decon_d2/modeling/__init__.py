"""The DeCon pre-training model. Importing this package registers ``DeCon`` (META_ARCH_REGISTRY),
``build_decon_backbone`` (BACKBONE_REGISTRY) and ``SlotConHead`` (SSL_HEAD_REGISTRY)."""
from .backbone import DeConEncoder, DeConFPN, build_decon_backbone
from .config import add_decon_model_config
from .heads import SSL_HEAD_REGISTRY, SlotConHead, build_ssl_head
from .meta_arch import DeCon, VARIANT_LEVELS

__all__ = [
    "DeCon",
    "DeConEncoder",
    "DeConFPN",
    "SSL_HEAD_REGISTRY",
    "SlotConHead",
    "VARIANT_LEVELS",
    "add_decon_model_config",
    "build_decon_backbone",
    "build_ssl_head",
]
