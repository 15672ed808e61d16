"""The VOC-format demo twin ``decon_demo_voc``: the photos and boxes of the embedded
``decon_demo_coco`` written as a VOC tree (``Annotations/*.xml``, ``ImageSets/Main/trainval.txt``,
``JPEGImages/*.jpg``) under ``$DETECTRON2_DATASETS/decon_demo/voc``, read by Detectron2's own
``load_voc_instances`` and scored by its ``PascalVOCDetectionEvaluator`` (docs/voc_detection.md).

Built by `python -m tools.build_data demo` (registered by ``decon_d2/data/demo_sets.py``) with ``build_manifest_dir``;
the manifest records the source json's size and time and the class list, so the tree is written
again when ``decon_demo_coco`` changes. Its classes are the demo set's own (some are VOC's:
bottle, bus, car, chair, diningtable, person, sofa), in the demo's category order.
"""
import json
from pathlib import Path
from typing import List
from xml.etree import ElementTree as ET

from detectron2.data import DatasetCatalog, MetadataCatalog
from detectron2.structures import BoxMode
from PIL import Image

from decon_d2.data import demo_layout as layout
from tools.build_data.manifest_dir import MANIFEST, build_manifest_dir

__all__ = ["ensure_demo_voc"]

_VERSION = 1  # bump when the tree's content changes


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


def ensure_demo_voc(force: bool = False) -> Path:
    """The VOC tree of ``decon_demo_coco``, (re)written when missing or older than its source."""
    folder = layout.voc_dir()
    records = DatasetCatalog.get(layout.COCO)  # builds the demo set first if needed
    classes = list(MetadataCatalog.get(layout.COCO).thing_classes)
    stat = layout.coco_json().stat()
    stamp = {"version": _VERSION, "coco_json_size": stat.st_size,
             "coco_json_mtime_ns": stat.st_mtime_ns, "classes": classes}
    manifest = folder / MANIFEST
    stale = manifest.is_file() and json.loads(manifest.read_text()) != stamp

    def write(tmp: Path) -> dict:
        for sub in ("Annotations", "ImageSets/Main", "JPEGImages"):
            (tmp / sub).mkdir(parents=True)
        ids = []
        for record in records:
            fileid = Path(record["file_name"]).stem
            ids.append(fileid)
            with Image.open(record["file_name"]) as im:
                im.convert("RGB").save(tmp / "JPEGImages" / f"{fileid}.jpg", quality=95)
            _xml(record, classes).write(tmp / "Annotations" / f"{fileid}.xml")
        (tmp / "ImageSets" / "Main" / f"{layout.VOC_SPLIT}.txt").write_text("\n".join(ids) + "\n")
        return stamp

    return build_manifest_dir(folder, write, force=stale or force)
