"""Builtin image-only pre-training data sets, in Detectron2's layout under ``$DETECTRON2_DATASETS``.

| name | folder(s) under ``$DETECTRON2_DATASETS`` | images |
|---|---|---|
| ``coco_2017_train_unlabeled`` | ``coco/train2017`` | 118,287 |
| ``coco_2017_unlabeled2017`` | ``coco/unlabeled2017`` | 123,403 |
| ``coco_plus`` | both of the above, concatenated (COCO+) | 241,690 |
| ``imagenet_train`` | ``imagenet/train`` (ImageFolder layout; class labels ignored) | 1,281,167 |

Roots are resolved when a data set is loaded, not when it is registered, so setting
``DETECTRON2_DATASETS`` after import still works. A missing folder raises
``DatasetNotFoundError`` naming the expected path and the variable.
"""
from typing import Dict, Tuple

from .image_folder import register_image_folder
from .paths import datasets_root

_COCO_HINT = "download COCO 2017 images from https://cocodataset.org/#download into coco/"
_IMAGENET_HINT = "expected ImageNet-1K train as ImageFolder: imagenet/train/<wnid>/*.JPEG"

# name -> (folders relative to the data root, hint shown when one is missing)
BUILTIN_IMAGE_DATASETS: Dict[str, Tuple[Tuple[str, ...], str]] = {
    "coco_2017_train_unlabeled": (("coco/train2017",), _COCO_HINT),
    "coco_2017_unlabeled2017": (("coco/unlabeled2017",), _COCO_HINT),
    "coco_plus": (("coco/train2017", "coco/unlabeled2017"), _COCO_HINT),
    "imagenet_train": (("imagenet/train",), _IMAGENET_HINT),
}

#: images each builtin set has when complete (the preflight warns about another count)
EXPECTED_IMAGES: Dict[str, int] = {
    "coco_2017_train_unlabeled": 118_287,
    "coco_2017_unlabeled2017": 123_403,
    "coco_plus": 241_690,
    "imagenet_train": 1_281_167,
}


def _under_root(rel: str):
    return lambda: datasets_root() / rel


def register_builtin_image_datasets() -> None:
    for name, (folders, hint) in BUILTIN_IMAGE_DATASETS.items():
        register_image_folder(name, [_under_root(rel) for rel in folders], hint=hint)


register_builtin_image_datasets()
