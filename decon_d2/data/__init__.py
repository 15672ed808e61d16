"""Data sets and data pipeline. Importing this module registers the data sets."""
from .paths import datasets_root
from .demo import register as _register_demo  # noqa: F401  (registration)
from . import datasets as _register_builtin  # noqa: F401  (registration)
from .study.register import register_study_datasets
from .image_folder import DatasetNotFoundError, register_image_folder
from .two_view_mapper import TwoViewMapper
from .corrupt import ReplaceCorruptDataset, count_corrupt
from .build import build_pretrain_train_loader

register_study_datasets()  # lazily: each builds on first use (python -m decon_d2.data.study)
