"""``SemSegTrainer``: fine-tuning and evaluation of semantic segmentation (docs/finetune.md,
docs/protocols.md).

``FinetuneTrainer`` (pre-flight, limited data, ``results.json``, decoder transfer) with:
- the training augmentation of the protocol: random resize of the short side
  (``INPUT.MIN_SIZE_TRAIN``, "range" sampling = mmseg's ratio range), a random crop
  (``INPUT.CROP``) in which no class covers more than ``SINGLE_CATEGORY_MAX_AREA`` (1.0 = plain
  crop), random flip, and mmseg's photometric distortion when ``INPUT.PHOTOMETRIC_DISTORTION``;
- label PNGs read as class indices: a palette PNG (VOC's official ``SegmentationClass``) by its
  indices, which Detectron2's ``DatasetMapper`` would turn into grey levels; 255 = ignore;
- ``SemSegEvaluator`` (mIoU, fwIoU, mACC, pACC into ``OUTPUT_DIR/inference/results.json``);
- the poly schedule (``SOLVER.LR_SCHEDULER_NAME: "WarmupPolyLR"``) besides Detectron2's.
Sliding-window inference belongs to the model (``SlidingWindowSegmentor``), so ``--eval-only``
and the periodic evaluation use it alike.
"""
import copy
import os

import detectron2.data.transforms as T
import numpy as np
import torch
from detectron2.data import DatasetMapper
from detectron2.data import detection_utils as utils
from detectron2.evaluation import SemSegEvaluator
from PIL import Image

from .photometric import PhotoMetricDistortion
from .poly_lr import build_poly_lr_scheduler
from .trainer import FinetuneTrainer

__all__ = ["SemSegTrainer", "SemSegDatasetMapper", "build_sem_seg_train_augmentation",
           "read_label"]


def read_label(path):
    """An H x W array of class indices: a palette PNG's indices, else Detectron2's "L" read."""
    with Image.open(path) as im:
        if im.mode == "P":
            return np.asarray(im, dtype=np.uint8)
    return utils.read_image(path, "L").squeeze(2)


def build_sem_seg_train_augmentation(cfg):
    """Resize (short side from ``MIN_SIZE_TRAIN``), crop with the class-area limit, flip, and the
    photometric distortion when asked."""
    augs = utils.build_augmentation(cfg, is_train=True)  # [ResizeShortestEdge, RandomFlip]
    c = cfg.INPUT.CROP
    if c.ENABLED:
        augs.insert(1, T.RandomCrop_CategoryAreaConstraint(
            c.TYPE, c.SIZE, c.SINGLE_CATEGORY_MAX_AREA, cfg.MODEL.SEM_SEG_HEAD.IGNORE_VALUE))
    if cfg.INPUT.PHOTOMETRIC_DISTORTION:
        if cfg.INPUT.FORMAT != "RGB":
            raise ValueError(f"INPUT.PHOTOMETRIC_DISTORTION works on RGB images but INPUT.FORMAT "
                             f"is {cfg.INPUT.FORMAT!r}: set INPUT.FORMAT RGB")
        augs.append(PhotoMetricDistortion())
    return augs


class SemSegDatasetMapper(DatasetMapper):
    """Training mapper of semantic segmentation: image and label through the augmentations,
    the label read by :func:`read_label` (Detectron2's mapper converts palette PNGs to grey)."""

    def __call__(self, dataset_dict):
        d = copy.deepcopy(dataset_dict)
        image = utils.read_image(d["file_name"], format=self.image_format)
        utils.check_image_size(d, image)
        label = read_label(d.pop("sem_seg_file_name")) if "sem_seg_file_name" in d else None
        aug_input = T.AugInput(image, sem_seg=label)
        self.augmentations(aug_input)
        d["image"] = torch.as_tensor(np.ascontiguousarray(aug_input.image.transpose(2, 0, 1)))
        if aug_input.sem_seg is not None:
            d["sem_seg"] = torch.as_tensor(aug_input.sem_seg.astype("long"))
        d.pop("annotations", None)
        return d


class SemSegTrainer(FinetuneTrainer):
    @classmethod
    def train_mapper(cls, cfg, records):
        return SemSegDatasetMapper(cfg, is_train=True,
                                   augmentations=build_sem_seg_train_augmentation(cfg))

    @classmethod
    def build_evaluator(cls, cfg, dataset_name, output_folder=None):
        output_folder = output_folder or os.path.join(cfg.OUTPUT_DIR, "inference")
        return SemSegEvaluator(dataset_name, distributed=True, output_dir=output_folder)

    @classmethod
    def build_lr_scheduler(cls, cfg, optimizer):
        if cfg.SOLVER.LR_SCHEDULER_NAME == "WarmupPolyLR":
            return build_poly_lr_scheduler(cfg, optimizer)
        return super().build_lr_scheduler(cfg, optimizer)
