"""Instant-test configs, synthetic two-view batches and a synthetic labelled data set, for the
tests and the benchmark (as ``detectron2.utils.testing`` serves Detectron2's own tests)."""
import torch
from detectron2.modeling import build_model

from decon_d2.engine.setup import build_cfg

from .paths import config_path

__all__ = ["INSTANT_TEST_VARIANTS", "instant_test_cfg", "build_instant_model", "decon_opts",
           "synthetic_batch", "register_synthetic_sem_seg"]

#: variant name -> its instant-test config under configs/quick_schedules/
INSTANT_TEST_VARIANTS = {
    "decon_ml": "quick_schedules/decon_ml_instant_test.yaml",
    "decon_sl": "quick_schedules/decon_sl_instant_test.yaml",
    "encoder_only": "quick_schedules/slotcon_instant_test.yaml",
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
