"""Self-supervised loss heads; importing this package registers them."""
from .build import SSL_HEAD_REGISTRY, build_ssl_head
from . import densecl, slotcon  # noqa: F401  (registration)
from .densecl import DenseCLHead
from .slotcon import SlotConHead

__all__ = ["SSL_HEAD_REGISTRY", "build_ssl_head", "DenseCLHead", "SlotConHead"]
