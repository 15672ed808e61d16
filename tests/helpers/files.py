"""Tiny data sets on disk: photos, a COCO instances json, a semantic-segmentation folder, and a
registered synthetic labelled set."""
import json

import numpy as np
from detectron2.data import DatasetCatalog, MetadataCatalog
from PIL import Image
from pycocotools import mask as mask_utils

__all__ = ["write_photos", "write_coco_instances", "write_sem_seg", "register_synthetic_sem_seg"]


def write_photos(folder, n, size=(96, 128), seed=0, ext=".png"):
    """``n`` small RGB images (noise plus a few coloured rectangles) under ``folder``."""
    rng = np.random.default_rng(seed)
    folder.mkdir(parents=True, exist_ok=True)
    paths = []
    for i in range(n):
        pixels = rng.integers(0, 256, (*size, 3), dtype=np.uint8)
        for _ in range(3):
            y, x = rng.integers(0, size[0] // 2), rng.integers(0, size[1] // 2)
            pixels[y:y + size[0] // 3, x:x + size[1] // 3] = rng.integers(0, 256, 3)
        paths.append(folder / f"img_{i:03d}{ext}")
        Image.fromarray(pixels).save(paths[-1])
    return paths


def write_coco_instances(json_path, image_dir, n, category_ids=(3, 7), seed=0, prefix="photo"):
    """A COCO instances json over ``n`` new images (``<prefix>_000.jpg``, ...): two rectangles
    per image, one class each, the first as a polygon and the second as RLE; category ids as
    given (non-contiguous)."""
    rng = np.random.default_rng(seed)
    h, w = 96, 128
    coco = {"images": [], "annotations": [],
            "categories": [{"id": c, "name": f"class_{c}"} for c in category_ids]}
    image_dir.mkdir(parents=True, exist_ok=True)
    for i in range(n):
        pixels = rng.integers(0, 60, (h, w, 3), dtype=np.uint8)
        name = f"{prefix}_{i:03d}.jpg"
        coco["images"].append({"id": i + 1, "file_name": name, "height": h, "width": w})
        for j, cat in enumerate(category_ids[:2]):
            x0, y0 = int(rng.integers(4, w // 2)), int(rng.integers(4, h // 2))
            x1, y1 = x0 + int(rng.integers(20, w // 2 - 4)), y0 + int(rng.integers(20, h // 2 - 4))
            pixels[y0:y1, x0:x1] = (200, 40, 40) if j == 0 else (40, 200, 40)
            if j == 0:
                segm = [[x0, y0, x1, y0, x1, y1, x0, y1]]
            else:
                m = np.zeros((h, w), np.uint8)
                m[y0:y1, x0:x1] = 1
                rle = mask_utils.encode(np.asfortranarray(m))
                segm = {"size": rle["size"], "counts": rle["counts"].decode("ascii")}
            coco["annotations"].append({
                "id": len(coco["annotations"]) + 1, "image_id": i + 1, "category_id": cat,
                "segmentation": segm, "bbox": [x0, y0, x1 - x0, y1 - y0],
                "area": float((x1 - x0) * (y1 - y0)), "iscrowd": 0})
        Image.fromarray(pixels).save(image_dir / name, quality=95)
    json_path.parent.mkdir(parents=True, exist_ok=True)
    json_path.write_text(json.dumps(coco))
    return coco


def write_sem_seg(image_dir, label_dir, n, num_classes=3, ignore=255, seed=0):
    """``n`` images with single-channel ('L') label PNGs of the same relative name: class
    indices 0..num_classes-1 and a border of ``ignore``."""
    rng = np.random.default_rng(seed)
    image_dir.mkdir(parents=True, exist_ok=True)
    label_dir.mkdir(parents=True, exist_ok=True)
    for i in range(n):
        label = rng.integers(0, num_classes, (6, 8)).repeat(16, 0).repeat(16, 1).astype(np.uint8)
        label[:2], label[-2:] = ignore, ignore
        pixels = (label[..., None] * 70 % 256).repeat(3, 2).astype(np.uint8)
        Image.fromarray(pixels).save(image_dir / f"scene_{i:03d}.jpg")
        Image.fromarray(label).save(label_dir / f"scene_{i:03d}.png")


def register_synthetic_sem_seg(name, folder, n=4, size=64, num_classes=3, seed=0):
    """Register ``name``: ``n`` JPEG photos-to-be (flat colour per class plus noise) with PNG class
    maps (a few random rectangles per image, ``num_classes`` classes, 0 = "background", a strip of
    255 = ignore) written under ``folder``, in Detectron2's sem_seg layout."""
    rng = np.random.default_rng(seed)
    colours = rng.integers(0, 256, (num_classes, 3))
    folder.mkdir(parents=True, exist_ok=True)
    records = []
    for i in range(n):
        label = np.zeros((size, size), np.uint8)
        for c in range(1, num_classes):
            y, x = rng.integers(0, size // 2, 2)
            label[y:y + size // 2, x:x + size // 2] = c
        label[:2] = 255
        noise = rng.normal(0, 8, (size, size, 3))
        rgb = np.clip(colours[np.minimum(label, num_classes - 1)] + noise, 0, 255).astype(np.uint8)
        Image.fromarray(rgb).save(folder / f"{i}.jpg", quality=95)
        Image.fromarray(label).save(folder / f"{i}.png")
        records.append({"file_name": str(folder / f"{i}.jpg"), "height": size, "width": size,
                        "sem_seg_file_name": str(folder / f"{i}.png"), "image_id": i})
    if name in DatasetCatalog.list():
        DatasetCatalog.remove(name)
        MetadataCatalog.remove(name)
    DatasetCatalog.register(name, lambda: records)
    MetadataCatalog.get(name).set(stuff_classes=["background"] + [f"class{c}" for c in
                                                                  range(1, num_classes)],
                                  ignore_label=255)
    return records
