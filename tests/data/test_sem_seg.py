"""Semantic-segmentation data sets: the VOC 2012 + SBD-aug registration and its errors, and the
embedded demo set turned into label PNGs."""
import json

import numpy as np
import pytest
from detectron2.data import DatasetCatalog, MetadataCatalog
from PIL import Image

import decon_d2  # noqa: F401  (registration)
from decon_d2.data import DatasetNotFoundError
from decon_d2.data.voc_sem_seg import VOC_SEM_SEG_CLASSES

VOC = "VOCdevkit/VOC2012"


def _voc_tree(root, ids=("2007_000032", "2007_000033"), train_list="train_aug.txt"):
    base = root / VOC
    for sub in ("JPEGImages", "SegmentationClassAug", "ImageSets/Segmentation"):
        (base / sub).mkdir(parents=True, exist_ok=True)
    for i in ids:
        Image.new("RGB", (8, 6)).save(base / "JPEGImages" / f"{i}.jpg")
        Image.fromarray(np.full((6, 8), 255, np.uint8)).save(
            base / "SegmentationClassAug" / f"{i}.png")
    (base / "ImageSets/Segmentation" / train_list).write_text("\n".join(ids) + "\n")
    (base / "ImageSets/Segmentation/val.txt").write_text(ids[0] + "\n")
    return base


def test_voc_splits_load_with_metadata(tmp_datasets_root):
    base = _voc_tree(tmp_datasets_root)
    train = DatasetCatalog.get("voc_2012_sem_seg_train_aug")
    val = DatasetCatalog.get("voc_2012_sem_seg_val")
    assert [r["file_name"] for r in train] == [str(base / "JPEGImages" / f"{i}.jpg")
                                              for i in ("2007_000032", "2007_000033")]
    assert val[0]["sem_seg_file_name"] == str(base / "SegmentationClassAug" / "2007_000032.png")
    meta = MetadataCatalog.get("voc_2012_sem_seg_val")
    assert meta.stuff_classes == list(VOC_SEM_SEG_CLASSES) and len(meta.stuff_classes) == 21
    assert meta.ignore_label == 255 and meta.evaluator_type == "sem_seg"


def test_mmseg_train_list_name_is_accepted(tmp_datasets_root):
    _voc_tree(tmp_datasets_root, train_list="aug.txt")
    assert len(DatasetCatalog.get("voc_2012_sem_seg_train_aug")) == 2


@pytest.mark.parametrize("remove, named", [
    ("", VOC),
    ("SegmentationClassAug", f"{VOC}/SegmentationClassAug"),
    ("ImageSets/Segmentation/train_aug.txt", f"{VOC}/ImageSets/Segmentation/aug.txt"),
    ("SegmentationClassAug/2007_000033.png", f"{VOC}/SegmentationClassAug/2007_000033.png"),
    ("JPEGImages/2007_000033.jpg", f"{VOC}/JPEGImages/2007_000033.jpg"),
])
def test_voc_errors_name_the_missing_path(tmp_datasets_root, remove, named):
    import shutil

    base = _voc_tree(tmp_datasets_root)
    target = base / remove if remove else tmp_datasets_root / "VOCdevkit"
    shutil.rmtree(target) if target.is_dir() else target.unlink()
    with pytest.raises(DatasetNotFoundError) as err:
        DatasetCatalog.get("voc_2012_sem_seg_train_aug")
    assert str((tmp_datasets_root / named).resolve()) in str(err.value), str(err.value)
    assert "SegmentationClassAug" in str(err.value)  # the layout hint


def test_demo_sem_seg_labels_paint_the_coco_instances():
    """Every instance pixel carries a category of that image (smaller instances on top), every
    other pixel is background (0); the class list is background + the COCO categories."""
    from tools.build_data.demo_sets.sem_seg import _instance_mask
    from decon_d2.data import demo_layout as layout

    records = DatasetCatalog.get(layout.SEM_SEG)
    coco = json.loads(layout.coco_json().read_text())
    classes = MetadataCatalog.get(layout.SEM_SEG).stuff_classes
    assert len(classes) == layout.SEM_SEG_NUM_CLASSES and classes[0] == "background"
    names = {c["id"]: c["name"] for c in coco["categories"]}
    assert all(classes[i] == n for i, n in names.items())
    assert len(records) == len(coco["images"])
    for record, image in zip(records, coco["images"]):
        label = np.array(Image.open(record["sem_seg_file_name"]))
        assert label.shape == (image["height"], image["width"])
        anns = sorted((a for a in coco["annotations"] if a["image_id"] == image["id"]),
                      key=lambda a: a["area"])
        covered = np.zeros(label.shape, bool)
        for ann in anns:  # smallest first: where it is not under a smaller one, it shows
            mask = _instance_mask(ann, *label.shape) & ~covered
            assert (label[mask] == ann["category_id"]).all()
            covered |= mask
        assert (label[~covered] == 0).all() and covered.any()
