"""Instant-test configs, synthetic two-view batches and tiny data sets on disk (photos, a COCO
json, a semantic-segmentation folder, a registered synthetic labelled set), for the tests and
the benchmark (as ``detectron2.utils.testing`` serves Detectron2's own tests); the training
drivers of ``testing_runs`` re-exported."""
import json

import numpy as np
import torch
from detectron2.modeling import build_model
from PIL import Image
from pycocotools import mask as mask_utils

from decon_d2.engine.setup import build_cfg

from .paths import config_path
from .testing_runs import gloo_process_group, kill_and_resume, loss_history

__all__ = ["INSTANT_TEST_VARIANTS", "instant_test_cfg", "build_instant_model", "decon_opts",
           "synthetic_batch", "write_photos", "write_coco_instances", "write_sem_seg",
           "perturb_norm_stats", "save_decon_checkpoint", "gloo_process_group", "loss_history",
           "kill_and_resume", "register_synthetic_sem_seg"]

#: variant name -> its instant-test config under configs/quick_schedules/
INSTANT_TEST_VARIANTS = {
    "decon_ml": "quick_schedules/decon_ml_instant_test.yaml",
    "decon_sl": "quick_schedules/decon_sl_instant_test.yaml",
    "encoder_only": "quick_schedules/slotcon_instant_test.yaml",
    "decon_fcn": "quick_schedules/decon_fcn_instant_test.yaml",
    "densecl": "quick_schedules/densecl_instant_test.yaml",
    "decon_densecl_sl": "quick_schedules/decon_densecl_sl_instant_test.yaml",
    "decon_densecl_ml": "quick_schedules/decon_densecl_ml_instant_test.yaml",
}
#: overrides that turn the instant tests' ResNet-18 into the real ResNet-50 (Mask R-CNN keys)
R50_OPTS = ("MODEL.RESNETS.DEPTH", 50, "MODEL.RESNETS.RES2_OUT_CHANNELS", 256)


def decon_opts(**decon):
    """``decon_opts(SKIP_CHANNEL_DROPOUT=0.0)`` -> ``["MODEL.DECON.SKIP_CHANNEL_DROPOUT", 0.0]``."""
    return [x for k, v in decon.items() for x in (f"MODEL.DECON.{k}", v)]


def instant_test_cfg(variant="decon_ml", *opts, r50=False, output_dir=None):
    """The frozen instant-test config of ``variant`` with ``KEY, VALUE, ...`` overrides;
    ``r50``: the real ResNet-50 (Mask R-CNN's keys) instead of ResNet-18."""
    extra = list(R50_OPTS) if r50 else []
    if output_dir is not None:
        extra += ["OUTPUT_DIR", str(output_dir)]
    return build_cfg(config_path(INSTANT_TEST_VARIANTS[variant]), [*extra, *opts])


def build_instant_model(variant="decon_ml", *opts, r50=False, seed=0):
    """The instant-test DeCon model (arguments as ``instant_test_cfg``), seeded, teacher =
    student, in training mode."""
    torch.manual_seed(seed)
    model = build_model(instant_test_cfg(variant, *opts, r50=r50))
    model.copy_student_to_teacher()
    return model.train()


def synthetic_batch(n, crop, seed=0):
    """``n`` two-view samples in the contract format (docs/contracts.md): random uint8 views,
    partly overlapping boxes, one flipped view in two, so every loss term runs."""
    g = torch.Generator().manual_seed(seed)
    out = []
    for i in range(n):
        out.append({
            "file_name": f"synthetic_{i}",
            "image_id": i,
            "view1": torch.randint(0, 256, (3, crop, crop), dtype=torch.uint8, generator=g),
            "view2": torch.randint(0, 256, (3, crop, crop), dtype=torch.uint8, generator=g),
            "box1": torch.tensor([0.1, 0.2, 0.8, 0.9]),
            "box2": torch.tensor([0.0, 0.05, 0.75, 0.6]),
            "flip1": bool(i % 2),
            "flip2": False,
        })
    return out


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


def perturb_norm_stats(named_buffers, named_params, seed=0):
    """Non-trivial BN statistics (and non-zero last-norm gammas), so that eval-mode features
    depend on every loaded tensor (converter round trips)."""
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for n, b in named_buffers:
            if n.endswith("running_var"):
                b.copy_(torch.rand(b.shape, generator=g) * 1.5 + 0.5)
            elif n.endswith("running_mean"):
                b.copy_(torch.rand(b.shape, generator=g) * 0.4 - 0.2)
        for n, p in named_params:
            if n.endswith(("bn3.weight", "conv3.norm.weight")):  # zero-init gammas
                p.copy_(torch.rand(p.shape, generator=g) * 0.5 + 0.5)


def save_decon_checkpoint(cfg, folder, with_config, iteration=41):
    """A randomly initialised DeCon model of ``cfg`` (norm statistics perturbed) saved as
    ``train_net.py`` would (``model_final.pth`` with ``decon_meta``; ``config.yaml`` beside it
    when ``with_config``); returns the checkpoint path."""
    from detectron2.checkpoint import DetectionCheckpointer

    from ..engine.checkpoint import DeConMeta

    torch.manual_seed(0)
    model = build_model(cfg)
    perturb_norm_stats(model.named_buffers(), model.named_parameters())
    meta = DeConMeta(cfg, model, lambda: iteration).state_dict()
    DetectionCheckpointer(model, str(folder)).save("model_final", iteration=iteration,
                                                   decon_meta=meta)
    if with_config:
        (folder / "config.yaml").write_text(cfg.dump())
    return folder / "model_final.pth"


def register_synthetic_sem_seg(name, folder, n=4, size=64, num_classes=3, seed=0):
    """Register ``name``: ``n`` JPEG photos-to-be (flat colour per class plus noise) with PNG class
    maps (a few random rectangles per image, ``num_classes`` classes, 0 = "background", a strip of
    255 = ignore) written under ``folder``, in Detectron2's sem_seg layout."""
    import numpy as np
    from detectron2.data import DatasetCatalog, MetadataCatalog
    from PIL import Image

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
