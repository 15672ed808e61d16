"""decon-d2: DeCon (joint encoder-decoder contrastive pre-training, arXiv 2503.17526) for Detectron2.

Importing this package registers everything the project adds to Detectron2's catalogs and
registries (data sets, the meta-architecture, backbones and heads), as Detectron2 projects do:

    from decon_d2 import add_decon_config
"""
from . import data  # noqa: F401  (registration of data sets)
from . import modeling  # noqa: F401  (registration)
from .config import add_decon_config

__all__ = ["add_decon_config"]
__version__ = "0.1.0"
