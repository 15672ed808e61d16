"""Pipelines of this checkout, outside the library: data-set builders, the demo, the learning
study, benchmarks and the fine-tuning protocol table.

They run from the repository root (``python -m tools.<name>`` or ``make``), read its
``configs/`` and run ``train_net.py`` as subprocesses; ``decon_d2`` never imports them
(``tests/test_structure.py``).
"""
