"""Build ``decon_demo_sem_seg``: the embedded COCO demo set (``decon_demo_coco``) as semantic masks.

Each photo of ``decon_demo_coco`` gets a label PNG (``decon_demo/sem_seg/labels/<stem>.png``,
single channel): 0 = background (pixels of no instance), k = the k-th category of the COCO JSON
(categories are numbered 1..20 there, so the index is the category id), painted largest instance
first so that small objects stay visible where instances overlap. The class list is background +
the categories, padded with ``unused_<i>`` to ``SEM_SEG_NUM_CLASSES`` (21, the demo configs'
``NUM_CLASSES``), so that a build without Debian's labelme photos (fewer classes) still
evaluates. Built atomically by `python -m tools.build_data demo`, like the other demo sets; the photos are not copied.
Registered by ``decon_d2/data/demo_sets.py``.
"""
import json
from pathlib import Path

import numpy as np
from PIL import Image
from pycocotools import mask as mask_utils

from decon_d2.data import demo_layout as layout
from tools.build_data.manifest_dir import build_manifest_dir
from tools.build_data.demo_sets import build

__all__ = ["ensure_sem_seg"]

NUM_CLASSES = layout.SEM_SEG_NUM_CLASSES


def _instance_mask(ann, height, width) -> np.ndarray:
    seg = ann["segmentation"]
    if isinstance(seg, list):  # polygons
        rle = mask_utils.merge(mask_utils.frPyObjects(seg, height, width))
    elif isinstance(seg["counts"], list):  # uncompressed RLE
        rle = mask_utils.frPyObjects(seg, height, width)
    else:
        rle = {"size": seg["size"], "counts": seg["counts"].encode("ascii")}
    return mask_utils.decode(rle).astype(bool)


def _write_sem_seg(dest: Path) -> dict:
    coco = json.loads(layout.coco_json().read_text())
    categories = sorted(coco["categories"], key=lambda c: c["id"])
    if [c["id"] for c in categories] != list(range(1, len(categories) + 1)) or \
            len(categories) >= NUM_CLASSES:
        raise ValueError(f"{layout.coco_json()}: expected category ids 1..N with N < "
                         f"{NUM_CLASSES}, got {[c['id'] for c in categories]}")
    classes = ["background"] + [c["name"] for c in categories]
    classes += [f"unused_{i}" for i in range(len(classes), NUM_CLASSES)]
    (dest / "labels").mkdir()
    by_image = {}
    for ann in coco["annotations"]:
        by_image.setdefault(ann["image_id"], []).append(ann)
    for image in coco["images"]:
        h, w = image["height"], image["width"]
        label = np.zeros((h, w), dtype=np.uint8)
        for ann in sorted(by_image.get(image["id"], []), key=lambda a: -a["area"]):
            label[_instance_mask(ann, h, w)] = ann["category_id"]
        Image.fromarray(label).save(dest / "labels" / f"{Path(image['file_name']).stem}.png")
    return {"images": len(coco["images"]), "classes": classes, "source": "decon_demo_coco"}


def ensure_sem_seg(force: bool = False) -> Path:
    """The label folder (built from ``decon_demo_coco``, itself built first if needed)."""
    build.ensure_coco()
    return build_manifest_dir(layout.sem_seg_dir(), _write_sem_seg, force)
