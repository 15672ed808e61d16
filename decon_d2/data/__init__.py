"""Data sets and data pipeline. Importing this module registers the data sets."""
from .paths import datasets_root
from .demo import register as _register_demo  # noqa: F401  (registration)
