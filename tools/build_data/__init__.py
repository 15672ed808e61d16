"""Construction of the data sets built from package files: the embedded demo sets
(``demo_sets``) and the learning-study sets (``study_sets``).

Never imported by training: ``decon_d2.data`` only registers the names (``data/demo_sets.py``,
``data/study_sets.py``, folders in ``data/demo_layout.py`` and ``data/study_layout.py``); a
loader of a set not built yet names the command. Command: ``python -m tools.build_data {demo,study}``.
"""
