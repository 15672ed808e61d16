"""decon-d2: DeCon (joint encoder-decoder contrastive pre-training, arXiv 2503.17526) for Detectron2.

Importing this package registers everything the project adds to Detectron2's catalogs and
registries (data sets; later the meta-architecture, heads and backbones), as Detectron2 projects do.
"""
from . import data  # noqa: F401  (registration of data sets)
from . import modeling  # noqa: F401  (registration)

__version__ = "0.1.0"
