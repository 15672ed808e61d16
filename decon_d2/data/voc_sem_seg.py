"""Pascal VOC 2012 semantic segmentation with the SBD augmentation (docs/protocols.md).

- ``voc_2012_sem_seg_train_aug``: 10,582 ids from ``train_aug.txt`` or ``trainaug.txt``, else
  ``train.txt`` ∪ ``aug.txt``;
- ``voc_2012_sem_seg_val``: ``val.txt`` (1,449 ids);
- labels: ``SegmentationClass/<id>.png`` where present, else ``SegmentationClassAug/<id>.png``.

All under ``$DETECTRON2_DATASETS/VOCdevkit/VOC2012`` (images in ``JPEGImages``, lists in
``ImageSets/Segmentation``). mmsegmentation's converter writes ``aug.txt`` (9,118 ids, VOC
``train.txt`` left out: its configs train on ``train.txt`` + ``aug.txt``) and ``trainaug.txt``;
DeepLab's layout has ``train_aug.txt``. A VOC-2012 id reads the official mask
(``SegmentationClass``, a palette PNG whose indices are the classes) when it exists, as mmseg's
configs do; SBD-only ids read ``SegmentationClassAug``. A split whose size is not the protocol's
is loaded with a warning naming the list files and the expected count. Labels are class indices
0..20 (0 = background), 255 = ignore. A missing folder, list or file raises
``DatasetNotFoundError`` naming it.
"""
import logging
from pathlib import Path
from typing import List, Optional, Tuple

from detectron2.data import DatasetCatalog, MetadataCatalog

from .image_folder import DatasetNotFoundError, check_root
from .paths import datasets_root

__all__ = ["VOC_SEM_SEG_CLASSES", "VOC_SEM_SEG_SPLITS", "VOC_SEM_SEG_SIZES",
           "load_voc_sem_seg", "register_voc_sem_seg", "voc_id_lists"]

logger = logging.getLogger(__name__)

VOC_SEM_SEG_CLASSES = (
    "background", "aeroplane", "bicycle", "bird", "boat", "bottle", "bus", "car", "cat", "chair",
    "cow", "diningtable", "dog", "horse", "motorbike", "person", "pottedplant", "sheep", "sofa",
    "train", "tvmonitor",
)
#: name -> candidate id lists, relative to VOC2012/ImageSets/Segmentation: the first entry found
#: wins; a tuple entry is a union whose files must all exist
VOC_SEM_SEG_SPLITS = {
    "voc_2012_sem_seg_train_aug": ("train_aug.txt", "trainaug.txt", ("train.txt", "aug.txt"),
                                   "aug.txt"),
    "voc_2012_sem_seg_val": ("val.txt",),
}
#: the protocol's image count per split (VOC 2012 + SBD: 10,582 train, 1,449 val)
VOC_SEM_SEG_SIZES = {"voc_2012_sem_seg_train_aug": 10582, "voc_2012_sem_seg_val": 1449}
_LABEL_DIRS = ("SegmentationClass", "SegmentationClassAug")
_HINT = ("expected VOCdevkit/VOC2012/{JPEGImages, SegmentationClassAug (+ SegmentationClass), "
         "ImageSets/Segmentation/{train_aug.txt or trainaug.txt or train.txt + aug.txt, val.txt}}"
         " (VOC 2012 plus the SBD-augmented labels)")


def _voc_root() -> Path:
    return datasets_root() / "VOCdevkit" / "VOC2012"


def voc_id_lists(name: str, root: Path) -> Tuple[List[Path], List[str]]:
    """(the list files used, the ids in order without repeats) of split ``name``."""
    folder = root / "ImageSets" / "Segmentation"
    for entry in VOC_SEM_SEG_SPLITS[name]:
        files = [folder / f for f in ((entry,) if isinstance(entry, str) else entry)]
        if all(f.is_file() for f in files):
            break
    else:
        tried = [" + ".join(str((folder / f).resolve()) for f in
                            ((e,) if isinstance(e, str) else e)) for e in VOC_SEM_SEG_SPLITS[name]]
        raise DatasetNotFoundError(f"data set '{name}': image list not found: "
                                   + " or ".join(tried) + f"; {_HINT}")
    ids = [line.split()[0] for f in files for line in f.read_text().splitlines() if line.strip()]
    return files, list(dict.fromkeys(ids))


def _check_count(name: str, files: List[Path], n: int) -> None:
    expected = VOC_SEM_SEG_SIZES[name]
    if n == expected:
        return
    used = " + ".join(str(f.resolve()) for f in files)
    why = ""
    if [f.name for f in files] == ["aug.txt"]:
        why = (" mmseg's aug.txt leaves out VOC train.txt (1,464 ids): put train.txt next to it "
               "(the union is used) or use trainaug.txt.")
    logger.warning(f"data set '{name}': {n} images from {used}, but the protocol's split has "
                   f"{expected:,}.{why} The results are not comparable with published ones.")


def _label(root: Path, image_id: str) -> Optional[Path]:
    for sub in _LABEL_DIRS:
        path = root / sub / f"{image_id}.png"
        if path.is_file():
            return path
    return None


def load_voc_sem_seg(name: str, root: Path = None) -> List[dict]:
    """The records of split ``name`` under ``root`` (default ``$DETECTRON2_DATASETS/...``)."""
    root = Path(root) if root is not None else _voc_root()
    for sub in ("", "JPEGImages", "ImageSets/Segmentation"):
        check_root(root / sub, name, _HINT)
    if name != "voc_2012_sem_seg_val" or not (root / "SegmentationClass").is_dir():
        check_root(root / "SegmentationClassAug", name, _HINT)
    files, ids = voc_id_lists(name, root)
    records, missing = [], []
    for i, image_id in enumerate(ids):
        image = root / "JPEGImages" / f"{image_id}.jpg"
        label = _label(root, image_id)
        if label is None:
            label = root / "SegmentationClassAug" / f"{image_id}.png"
            missing.append(label)
        if not image.is_file():
            missing.append(image)
        records.append({"file_name": str(image), "sem_seg_file_name": str(label), "image_id": i})
    if missing:
        raise DatasetNotFoundError(
            f"data set '{name}': {len(missing)} file(s) listed in "
            + " + ".join(str(f) for f in files) + " are missing, e.g. "
            + ", ".join(str(p.resolve()) for p in missing[:3]) + f"; {_HINT}")
    _check_count(name, files, len(records))
    return records


def register_voc_sem_seg() -> None:
    for name in VOC_SEM_SEG_SPLITS:
        DatasetCatalog.register(name, lambda n=name: load_voc_sem_seg(n))
        MetadataCatalog.get(name).set(stuff_classes=list(VOC_SEM_SEG_CLASSES), ignore_label=255,
                                      evaluator_type="sem_seg")


register_voc_sem_seg()
