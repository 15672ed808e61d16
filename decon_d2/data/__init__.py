"""Data sets and data pipeline. Importing this module registers the data sets.

Only registration lives here; the demo and study sets are built by the checkout's
``tools/build_data/`` (``python -m tools.build_data {demo,study}``), never by the library.
"""
from .paths import datasets_root
from . import demo_sets as _register_demo  # noqa: F401  (registration)
from . import datasets as _register_builtin  # noqa: F401  (registration)
from .study_sets import register_study_datasets
from . import voc_sem_seg as _register_voc  # noqa: F401  (registration)
from .image_folder import DatasetNotFoundError, register_image_folder
from .declared import DeclaredDatasetError, register_declared_datasets
from .two_view_mapper import TwoViewMapper
from .corrupt import ReplaceCorruptDataset, count_corrupt
from .build import build_pretrain_train_loader

register_study_datasets()  # nothing is read until a set is loaded
