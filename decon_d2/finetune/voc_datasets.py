"""VOC-format detection data sets for the VOC protocol (docs/voc_detection.md).

The protocol's sets are Detectron2's builtins, registered when ``detectron2.data`` is imported:
``voc_2007_trainval``, ``voc_2012_trainval`` (training) and ``voc_2007_test`` (evaluation), read
from ``$DETECTRON2_DATASETS/VOC2007`` and ``VOC2012`` with ``evaluator_type "pascal_voc"``
(``PascalVOCDetectionEvaluator``). Nothing of them is re-registered here.

What this module adds is the CPU demo twin, ``decon_demo_voc``: the photos and boxes of the
embedded ``decon_demo_coco`` (``decon_d2/data/demo_sets.py``) written as a VOC tree
(``Annotations/*.xml``, ``ImageSets/Main/trainval.txt``, ``JPEGImages/*.jpg``) under
``$DETECTRON2_DATASETS/decon_demo/voc`` on first use, registered with Detectron2's own
``load_voc_instances`` and evaluated by its ``PascalVOCDetectionEvaluator`` (year 2007: the
11-point VOC07 AP50, as on ``voc_2007_test``). Its classes are the demo set's own (some are
VOC's: bottle, bus, car, chair, diningtable, person, sofa), in the demo's category order.
"""
import json
import os
import shutil
from pathlib import Path
from typing import List
from xml.etree import ElementTree as ET

from detectron2.data import DatasetCatalog, MetadataCatalog
from detectron2.data.datasets.pascal_voc import load_voc_instances
from detectron2.structures import BoxMode
from PIL import Image

from ..data import demo_layout
from ..data.paths import MANIFEST

__all__ = ["DEMO_VOC", "DEMO_VOC_SPLIT", "demo_voc_dir", "ensure_demo_voc",
           "register_demo_voc"]

DEMO_VOC = "decon_demo_voc"
DEMO_VOC_SPLIT = "trainval"
DEMO_VOC_YEAR = 2007
_VERSION = 1  # bump when the tree's content changes


def demo_voc_dir() -> Path:
    return demo_layout.demo_root() / "voc"


def _source_stamp() -> dict:
    stat = demo_layout.coco_json().stat()
    return {"version": _VERSION, "coco_json_size": stat.st_size,
            "coco_json_mtime_ns": stat.st_mtime_ns}


def _xml(record, classes: List[str]) -> ET.ElementTree:
    root = ET.Element("annotation")
    ET.SubElement(root, "filename").text = Path(record["file_name"]).stem + ".jpg"
    size = ET.SubElement(root, "size")
    for key, value in (("width", record["width"]), ("height", record["height"]), ("depth", 3)):
        ET.SubElement(size, key).text = str(value)
    for ann in record["annotations"]:
        x0, y0, x1, y1 = BoxMode.convert(ann["bbox"], ann["bbox_mode"], BoxMode.XYXY_ABS)
        obj = ET.SubElement(root, "object")
        ET.SubElement(obj, "name").text = classes[ann["category_id"]]
        ET.SubElement(obj, "pose").text = "Unspecified"
        ET.SubElement(obj, "truncated").text = "0"
        ET.SubElement(obj, "difficult").text = str(int(ann.get("iscrowd", 0)))
        box = ET.SubElement(obj, "bndbox")
        # VOC boxes are 1-based inclusive pixel indices (load_voc_instances subtracts 1 from
        # xmin/ymin); integers, as the evaluator's parser reads them.
        for key, value in (("xmin", round(x0) + 1), ("ymin", round(y0) + 1),
                           ("xmax", max(round(x1), round(x0) + 1)),
                           ("ymax", max(round(y1), round(y0) + 1))):
            ET.SubElement(box, key).text = str(int(value))
    return ET.ElementTree(root)


def ensure_demo_voc() -> Path:
    """The VOC tree of ``decon_demo_coco``, (re)written when missing or older than its source."""
    folder = demo_voc_dir()
    records = DatasetCatalog.get(demo_layout.COCO)  # builds the demo set first if needed
    classes = list(MetadataCatalog.get(demo_layout.COCO).thing_classes)
    stamp = dict(_source_stamp(), classes=classes)
    manifest = folder / MANIFEST
    if manifest.is_file() and json.loads(manifest.read_text()) == stamp:
        return folder
    tmp = folder.with_name(f"voc.tmp{os.getpid()}")
    shutil.rmtree(tmp, ignore_errors=True)
    for sub in ("Annotations", "ImageSets/Main", "JPEGImages"):
        (tmp / sub).mkdir(parents=True)
    ids = []
    for record in records:
        fileid = Path(record["file_name"]).stem
        ids.append(fileid)
        with Image.open(record["file_name"]) as im:
            im.convert("RGB").save(tmp / "JPEGImages" / f"{fileid}.jpg", quality=95)
        _xml(record, classes).write(tmp / "Annotations" / f"{fileid}.xml")
    (tmp / "ImageSets" / "Main" / f"{DEMO_VOC_SPLIT}.txt").write_text("\n".join(ids) + "\n")
    (tmp / MANIFEST).write_text(json.dumps(stamp))  # last: marks the tree complete
    shutil.rmtree(folder, ignore_errors=True)
    os.replace(tmp, folder)
    return folder


def _load_demo_voc():
    folder = ensure_demo_voc()
    classes = json.loads((folder / MANIFEST).read_text())["classes"]
    meta = MetadataCatalog.get(DEMO_VOC)
    if not hasattr(meta, "thing_classes"):
        meta.thing_classes = classes
    return load_voc_instances(str(folder), DEMO_VOC_SPLIT, classes)


def register_demo_voc() -> None:
    """Register ``decon_demo_voc`` (idempotent). ``thing_classes`` is set now when the tree is
    already built, else when it is first loaded (the data loader runs before the evaluator)."""
    if DEMO_VOC in DatasetCatalog.list():
        return
    DatasetCatalog.register(DEMO_VOC, _load_demo_voc)
    meta = MetadataCatalog.get(DEMO_VOC)
    meta.set(dirname=str(demo_voc_dir()), split=DEMO_VOC_SPLIT, year=DEMO_VOC_YEAR,
             evaluator_type="pascal_voc")
    manifest = demo_voc_dir() / MANIFEST
    if manifest.is_file():
        meta.set(thing_classes=json.loads(manifest.read_text())["classes"])


register_demo_voc()
