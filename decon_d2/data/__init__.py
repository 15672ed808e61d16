"""Data sets and data pipeline. Importing this module registers the data sets."""
from .paths import datasets_root
from .demo import register as _register_demo  # noqa: F401  (registration)
from . import datasets as _register_builtin  # noqa: F401  (registration)
from . import voc_sem_seg as _register_voc  # noqa: F401  (registration)
from .demo import sem_seg as _register_demo_sem_seg  # noqa: F401  (registration)
from .image_folder import DatasetNotFoundError, register_image_folder
from .two_view_mapper import TwoViewMapper
from .corrupt import ReplaceCorruptDataset, count_corrupt
from .build import build_pretrain_train_loader
