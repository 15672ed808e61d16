"""Builtin image-only data sets under DETECTRON2_DATASETS, and their errors."""
import pytest
from detectron2.data import DatasetCatalog, MetadataCatalog

import decon_d2  # noqa: F401  (registration)
from decon_d2.data import DatasetNotFoundError, register_image_folder
from decon_d2.data.datasets import BUILTIN_IMAGE_DATASETS

BUILTINS = ["coco_2017_train_unlabeled", "coco_2017_unlabeled2017", "coco_plus", "imagenet_train"]


def _touch(root, *rels):
    for rel in rels:
        (root / rel).parent.mkdir(parents=True, exist_ok=True)
        (root / rel).write_bytes(b"")


def test_builtins_are_registered_as_image_only():
    assert set(BUILTINS) <= set(DatasetCatalog.list())
    assert set(BUILTIN_IMAGE_DATASETS) == set(BUILTINS)
    for name in BUILTINS:
        assert MetadataCatalog.get(name).image_only is True


@pytest.mark.parametrize("name, folder", [
    ("coco_2017_train_unlabeled", "coco/train2017"),
    ("coco_2017_unlabeled2017", "coco/unlabeled2017"),
    ("imagenet_train", "imagenet/train"),
])
def test_missing_root_names_path_and_variable(tmp_datasets_root, name, folder):
    with pytest.raises(DatasetNotFoundError) as err:
        DatasetCatalog.get(name)
    message = str(err.value)
    assert str((tmp_datasets_root / folder).resolve()) in message
    assert "DETECTRON2_DATASETS" in message and str(tmp_datasets_root) in message


def test_coco_plus_names_whichever_folder_is_missing(tmp_datasets_root):
    with pytest.raises(DatasetNotFoundError) as err:
        DatasetCatalog.get("coco_plus")
    assert "coco/train2017" in str(err.value) and "coco/unlabeled2017" in str(err.value)
    _touch(tmp_datasets_root, "coco/train2017/000000000009.jpg")
    with pytest.raises(DatasetNotFoundError) as err:
        DatasetCatalog.get("coco_plus")
    assert "coco/unlabeled2017" in str(err.value) and "train2017" not in str(err.value)


def test_coco_plus_concatenates_train_then_unlabeled(tmp_datasets_root):
    _touch(tmp_datasets_root, "coco/train2017/b.jpg", "coco/train2017/a.jpg",
           "coco/unlabeled2017/c.jpg", "coco/unlabeled2017/info.txt")
    records = DatasetCatalog.get("coco_plus")
    assert [r["file_name"].rsplit("/", 2)[-2:] for r in records] == [
        ["train2017", "a.jpg"], ["train2017", "b.jpg"], ["unlabeled2017", "c.jpg"]]
    assert [r["image_id"] for r in records] == [0, 1, 2]
    assert len(DatasetCatalog.get("coco_2017_train_unlabeled")) == 2


def test_imagenet_train_lists_class_folders_and_ignores_labels(tmp_datasets_root):
    _touch(tmp_datasets_root, "imagenet/train/n01440764/x.JPEG", "imagenet/train/n01443537/y.JPEG")
    records = DatasetCatalog.get("imagenet_train")
    assert len(records) == 2 and set(records[0]) == {"file_name", "image_id"}


def test_register_image_folder_with_several_roots(tmp_path):
    _touch(tmp_path, "one/a.png", "two/sub/b.webp")
    register_image_folder("decon_test_two_roots", [tmp_path / "one", lambda: tmp_path / "two"])
    try:
        assert len(DatasetCatalog.get("decon_test_two_roots")) == 2
    finally:
        DatasetCatalog.remove("decon_test_two_roots")


def test_empty_folder_is_an_error_naming_it(tmp_datasets_root):
    (tmp_datasets_root / "imagenet" / "train").mkdir(parents=True)
    with pytest.raises(DatasetNotFoundError, match="no images found under .*imagenet/train"):
        DatasetCatalog.get("imagenet_train")
