"""Self-supervised loss heads, one folder each (``<head>/spec.py`` declares it: adding a head
is adding its folder and one import line here). Importing this package registers them, SlotCon
first: the variant catalogue lists rows in registration order."""
from .build import SSL_HEAD_REGISTRY, build_ssl_head
from .slotcon import SlotConHead
from .densecl import DenseCLHead

__all__ = ["SSL_HEAD_REGISTRY", "build_ssl_head", "DenseCLHead", "SlotConHead"]
