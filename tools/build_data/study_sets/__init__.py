"""Builders of the learning-study data, made from real photos shipped inside pip and Debian
packages.

- ``decon_study_unlabeled``: a few hundred distinct real photos, image-only (pre-training).
- ``decon_study_seg_{train,val}``: per-pixel labels, made by pasting real photo cut-outs (with
  their own alpha mattes) onto real background photos; disjoint from the unlabeled photos.

Nothing here is committed: ``python -m tools.build_data study`` builds both under
``$DETECTRON2_DATASETS`` (see ``build``); ``make study-data`` installs the source packages
first. The names are registered by ``decon_d2/data/study_sets.py`` (on ``import decon_d2``).
"""
