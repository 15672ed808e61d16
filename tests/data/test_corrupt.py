"""Corrupt or unreadable images are skipped, replaced, logged once and counted; never fatal."""
import io
import logging

import numpy as np
import pytest
import torch
from detectron2.config import get_cfg
from detectron2.data import DatasetCatalog
from PIL import Image

from decon_d2.config import add_decon_config
from decon_d2.data import (
    ReplaceCorruptDataset, TwoViewMapper, build_pretrain_train_loader, count_corrupt,
    register_image_folder,
)


pytestmark = pytest.mark.usefixtures("one_torch_thread")


def _write_folder(root):
    """3 good images, a truncated JPEG and a text file named like an image."""
    rng = np.random.default_rng(0)
    good = []
    for i in range(3):
        path = root / f"good{i}.png"
        Image.fromarray(rng.integers(0, 256, (40, 50, 3), dtype=np.uint8)).save(path)
        good.append(str(path))
    buf = io.BytesIO()
    Image.fromarray(rng.integers(0, 256, (64, 64, 3), dtype=np.uint8)).save(buf, "JPEG")
    (root / "truncated.jpg").write_bytes(buf.getvalue()[:1500])
    (root / "readme.jpg").write_text("this is not an image")
    return good, [str(root / "truncated.jpg"), str(root / "readme.jpg")]


def _mapper():
    return TwoViewMapper(crop_size=32, photometric=False)


def test_replacement_is_counted_exactly_and_bad_files_are_not_reread(tmp_path):
    good, bad = _write_folder(tmp_path)
    records = [{"file_name": good[0], "image_id": 0}, {"file_name": bad[0], "image_id": 1}]
    calls = []
    mapper = _mapper()
    dataset = ReplaceCorruptDataset(records, lambda r: (calls.append(r["file_name"]), mapper(r))[1])
    for _ in range(3):
        sample = dataset[1]
        assert sample["file_name"] == good[0] and sample["num_corrupt_replaced"] == 1
    assert dataset[0]["num_corrupt_replaced"] == 0
    assert calls.count(bad[0]) == 1  # remembered as bad after the first failure
    assert count_corrupt([dataset[1], dataset[0], dataset[1]]) == 2


def test_every_image_corrupt_fails_clearly(tmp_path):
    _, bad = _write_folder(tmp_path)
    dataset = ReplaceCorruptDataset([{"file_name": p} for p in bad], _mapper())
    with pytest.raises(RuntimeError, match="unreadable images in a row") as err:
        dataset[0]
    assert "2 of 2 records known bad" in str(err.value)
    assert any(p in str(err.value) for p in bad)


def test_too_many_corrupt_in_a_row_fails_clearly(tmp_path):
    good, bad = _write_folder(tmp_path)
    records = [{"file_name": bad[i % 2]} for i in range(50)] + [{"file_name": good[0]}]
    dataset = ReplaceCorruptDataset(records, _mapper(), max_in_a_row=3)
    torch.manual_seed(0)
    with pytest.raises(RuntimeError, match="3 unreadable images in a row"):
        dataset[0]


@pytest.mark.parametrize("num_workers", [0, 2])
def test_loader_over_a_folder_with_bad_files_keeps_going_and_counts(tmp_path, caplog, num_workers):
    good, bad = _write_folder(tmp_path)
    name = f"decon_test_corrupt_folder_{num_workers}"
    register_image_folder(name, tmp_path)
    try:
        cfg = add_decon_config(get_cfg())
        cfg.DATASETS.TRAIN = (name,)
        cfg.SOLVER.IMS_PER_BATCH = 5
        cfg.DATALOADER.NUM_WORKERS = num_workers
        cfg.INPUT.DECON.CROP_SIZE = 32
        assert len(DatasetCatalog.get(name)) == 5  # the bad files are listed like the good ones
        with caplog.at_level(logging.WARNING, logger="decon_d2.data.image_io"):
            loader = iter(build_pretrain_train_loader(cfg))
            batches = [next(loader) for _ in range(4)]
    finally:
        DatasetCatalog.remove(name)
    samples = [s for b in batches for s in b]
    assert len(samples) == 20 and all(s["file_name"] in good for s in samples)
    # 20 draws from 5 records of which 2 are bad, every one counted. TrainingSampler draws whole
    # permutations, so in one process the 20 draws are 4 epochs: 8 bad draws (+ bad replacements).
    assert sum(count_corrupt(b) for b in batches) >= (8 if num_workers == 0 else 2)
    if num_workers == 0:  # worker processes log through their own handlers
        logged = [r.getMessage() for r in caplog.records]
        for path in bad:
            assert sum(path in m for m in logged) == 1
