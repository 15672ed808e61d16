"""Shared fixtures. Tests run on CPU in seconds to minutes; no network beyond apt for demo data."""
import os

import pytest

os.environ.setdefault("OMP_NUM_THREADS", "2")


@pytest.fixture
def tmp_datasets_root(tmp_path, monkeypatch):
    """Point DETECTRON2_DATASETS at an empty temporary folder."""
    monkeypatch.setenv("DETECTRON2_DATASETS", str(tmp_path))
    return tmp_path
