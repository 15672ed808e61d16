"""Pascal VOC 2012 semantic segmentation with the SBD augmentation (``SegmentationClassAug``).

| name | images | labels |
|---|---|---|
| ``voc_2012_sem_seg_train_aug`` | ``ImageSets/Segmentation/train_aug.txt`` (10,582 ids) | ``SegmentationClassAug/<id>.png`` |
| ``voc_2012_sem_seg_val`` | ``ImageSets/Segmentation/val.txt`` (1,449 ids) | ``SegmentationClassAug/<id>.png`` |

All under ``$DETECTRON2_DATASETS/VOCdevkit/VOC2012`` (images in ``JPEGImages``), the layout of
mmsegmentation and DeepLab. Labels are single-channel PNGs of class indices 0..20 (0 =
background), 255 = ignore (object boundaries). mmsegmentation's converter names the train list
``aug.txt``; it is accepted when ``train_aug.txt`` is absent. Records are
``{"file_name", "sem_seg_file_name", "image_id"}``; the paths are resolved and checked when the
data set is loaded, and a missing folder, list or file raises ``DatasetNotFoundError`` naming it.
"""
from pathlib import Path
from typing import List

from detectron2.data import DatasetCatalog, MetadataCatalog

from .image_folder import DatasetNotFoundError, check_root
from .paths import datasets_root

__all__ = ["VOC_SEM_SEG_CLASSES", "VOC_SEM_SEG_SPLITS", "load_voc_sem_seg",
           "register_voc_sem_seg"]

VOC_SEM_SEG_CLASSES = (
    "background", "aeroplane", "bicycle", "bird", "boat", "bottle", "bus", "car", "cat", "chair",
    "cow", "diningtable", "dog", "horse", "motorbike", "person", "pottedplant", "sheep", "sofa",
    "train", "tvmonitor",
)
#: name -> candidate id lists (first found wins), relative to VOC2012/ImageSets/Segmentation
VOC_SEM_SEG_SPLITS = {
    "voc_2012_sem_seg_train_aug": ("train_aug.txt", "aug.txt"),
    "voc_2012_sem_seg_val": ("val.txt",),
}
_HINT = ("expected VOCdevkit/VOC2012/{JPEGImages, SegmentationClassAug, ImageSets/Segmentation} "
         "(VOC 2012 plus the SBD-augmented labels SegmentationClassAug and train_aug.txt)")


def _voc_root() -> Path:
    return datasets_root() / "VOCdevkit" / "VOC2012"


def load_voc_sem_seg(name: str, root: Path = None) -> List[dict]:
    """The records of split ``name`` under ``root`` (default ``$DETECTRON2_DATASETS/...``)."""
    root = Path(root) if root is not None else _voc_root()
    for sub in ("", "JPEGImages", "SegmentationClassAug", "ImageSets/Segmentation"):
        check_root(root / sub, name, _HINT)
    lists = [root / "ImageSets" / "Segmentation" / f for f in VOC_SEM_SEG_SPLITS[name]]
    id_file = next((f for f in lists if f.is_file()), None)
    if id_file is None:
        raise DatasetNotFoundError(f"data set '{name}': image list not found: "
                                   + " or ".join(str(f.resolve()) for f in lists) + f"; {_HINT}")
    ids = [line.split()[0] for line in id_file.read_text().splitlines() if line.strip()]
    records, missing = [], []
    for i, image_id in enumerate(ids):
        image = root / "JPEGImages" / f"{image_id}.jpg"
        label = root / "SegmentationClassAug" / f"{image_id}.png"
        missing += [p for p in (image, label) if not p.is_file()]
        records.append({"file_name": str(image), "sem_seg_file_name": str(label), "image_id": i})
    if missing:
        raise DatasetNotFoundError(
            f"data set '{name}': {len(missing)} file(s) listed in {id_file} are missing, e.g. "
            + ", ".join(str(p.resolve()) for p in missing[:3]) + f"; {_HINT}")
    return records


def register_voc_sem_seg() -> None:
    for name in VOC_SEM_SEG_SPLITS:
        DatasetCatalog.register(name, lambda n=name: load_voc_sem_seg(n))
        MetadataCatalog.get(name).set(stuff_classes=list(VOC_SEM_SEG_CLASSES), ignore_label=255,
                                      evaluator_type="sem_seg")


register_voc_sem_seg()
