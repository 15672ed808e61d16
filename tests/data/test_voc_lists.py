"""VOC 2012 + SBD lists and labels as the segmentation references build them: mmseg's ``aug.txt``
joined with ``train.txt``, a warning when a split is not the protocol's size, the official
``SegmentationClass`` masks read where they exist."""
import logging

import numpy as np
import pytest
from PIL import Image

from decon_d2.data.voc_sem_seg import VOC_SEM_SEG_SIZES, load_voc_sem_seg

LOGGER = "decon_d2.data.voc_sem_seg"


def _tree(root, train=(), aug=(), val=(), official=(), train_aug=None):
    """A VOC2012 folder: every id has an image and an SBD label; ``official`` ids also have a
    ``SegmentationClass`` label; lists written as given (``train_aug``: DeepLab's list)."""
    for sub in ("JPEGImages", "SegmentationClassAug", "SegmentationClass",
                "ImageSets/Segmentation"):
        (root / sub).mkdir(parents=True, exist_ok=True)
    for i in {*train, *aug, *val, *(train_aug or ())}:
        Image.new("RGB", (8, 6)).save(root / "JPEGImages" / f"{i}.jpg")
        label = Image.fromarray(np.full((6, 8), 1, np.uint8))
        label.save(root / "SegmentationClassAug" / f"{i}.png")
    for i in official:
        Image.fromarray(np.full((6, 8), 2, np.uint8)).save(root / "SegmentationClass" / f"{i}.png")
    lists = {"train.txt": train, "aug.txt": aug, "val.txt": val, "train_aug.txt": train_aug}
    for name, ids in lists.items():
        if ids:
            (root / "ImageSets/Segmentation" / name).write_text("\n".join(ids) + "\n")
    return root


def test_mmseg_aug_list_is_joined_with_train(tmp_path, caplog):
    root = _tree(tmp_path, train=["t1", "t2"], aug=["a1", "a2", "a3"], val=["v1"])
    with caplog.at_level(logging.WARNING, logger=LOGGER):
        records = load_voc_sem_seg("voc_2012_sem_seg_train_aug", root)
    names = [r["file_name"].rsplit("/", 1)[1] for r in records]
    assert names == ["t1.jpg", "t2.jpg", "a1.jpg", "a2.jpg", "a3.jpg"]  # not aug.txt alone
    assert [r["image_id"] for r in records] == list(range(5))
    (warning,) = [r.getMessage() for r in caplog.records]
    assert "5 images" in warning and "10,582" in warning
    assert str((root / "ImageSets/Segmentation/train.txt").resolve()) in warning
    assert str((root / "ImageSets/Segmentation/aug.txt").resolve()) in warning


def test_aug_list_alone_warns_that_train_is_left_out(tmp_path, caplog):
    root = _tree(tmp_path, aug=["a1", "a2"], val=["v1"])
    with caplog.at_level(logging.WARNING, logger=LOGGER):
        assert len(load_voc_sem_seg("voc_2012_sem_seg_train_aug", root)) == 2
    (warning,) = [r.getMessage() for r in caplog.records]
    assert "aug.txt" in warning and "train.txt" in warning and "10,582" in warning


def test_deeplab_list_wins_and_val_reads_the_official_masks(tmp_path, caplog):
    root = _tree(tmp_path, train=["t1"], aug=["a1"], train_aug=["t1", "a1", "x1"],
                 val=["v1", "v2"], official=["t1", "v1"])
    train = load_voc_sem_seg("voc_2012_sem_seg_train_aug", root)
    assert [r["file_name"].rsplit("/", 1)[1] for r in train] == ["t1.jpg", "a1.jpg", "x1.jpg"]
    labels = {r["file_name"].rsplit("/", 1)[1]: r["sem_seg_file_name"] for r in train}
    assert labels["t1.jpg"] == str(root / "SegmentationClass" / "t1.png")   # the official mask
    assert labels["a1.jpg"] == str(root / "SegmentationClassAug" / "a1.png")  # SBD only
    caplog.clear()
    with caplog.at_level(logging.WARNING, logger=LOGGER):
        val = load_voc_sem_seg("voc_2012_sem_seg_val", root)
    assert [r["sem_seg_file_name"] for r in val] == [
        str(root / "SegmentationClass" / "v1.png"), str(root / "SegmentationClassAug" / "v2.png")]
    (warning,) = [r.getMessage() for r in caplog.records]
    assert "2 images" in warning and "1,449" in warning and "val.txt" in warning


@pytest.mark.parametrize("name", sorted(VOC_SEM_SEG_SIZES))
def test_no_warning_at_the_protocol_size(tmp_path, caplog, name, monkeypatch):
    root = _tree(tmp_path, train_aug=["t1", "t2"], val=["t1", "t2"])
    monkeypatch.setitem(VOC_SEM_SEG_SIZES, name, 2)
    with caplog.at_level(logging.WARNING, logger=LOGGER):
        assert len(load_voc_sem_seg(name, root)) == 2
    assert not caplog.records
