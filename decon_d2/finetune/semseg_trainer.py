"""``SemSegTrainer``: fine-tuning and evaluation of semantic segmentation (docs/finetune.md).

``FinetuneTrainer`` (pre-flight, limited data, ``results.json``, decoder transfer) with:
- the training augmentation of the protocol: random resize of the short side
  (``INPUT.MIN_SIZE_TRAIN``, "range" sampling = mmseg's ratio range), a random crop
  (``INPUT.CROP``) in which no class covers more than ``SINGLE_CATEGORY_MAX_AREA``, random flip;
  labels are carried by Detectron2's ``DatasetMapper`` (``sem_seg``), 255 = ignore;
- ``SemSegEvaluator`` (mIoU, fwIoU, mACC, pACC into ``OUTPUT_DIR/inference/results.json``);
- the poly schedule (``SOLVER.LR_SCHEDULER_NAME: "WarmupPolyLR"``) besides Detectron2's.
Sliding-window inference belongs to the model (``SlidingWindowSegmentor``), so ``--eval-only``
and the periodic evaluation use it alike.
"""
import os

import detectron2.data.transforms as T
from detectron2.data import DatasetMapper
from detectron2.data import detection_utils as utils
from detectron2.evaluation import SemSegEvaluator

from .poly_lr import build_poly_lr_scheduler
from .trainer import FinetuneTrainer

__all__ = ["SemSegTrainer", "build_sem_seg_train_augmentation"]


def build_sem_seg_train_augmentation(cfg):
    """Resize (short side from ``MIN_SIZE_TRAIN``), crop with the class-area limit, flip."""
    augs = utils.build_augmentation(cfg, is_train=True)  # [ResizeShortestEdge, RandomFlip]
    c = cfg.INPUT.CROP
    if c.ENABLED:
        augs.insert(1, T.RandomCrop_CategoryAreaConstraint(
            c.TYPE, c.SIZE, c.SINGLE_CATEGORY_MAX_AREA, cfg.MODEL.SEM_SEG_HEAD.IGNORE_VALUE))
    return augs


class SemSegTrainer(FinetuneTrainer):
    @classmethod
    def train_mapper(cls, cfg, records):
        return DatasetMapper(cfg, is_train=True, augmentations=build_sem_seg_train_augmentation(cfg))

    @classmethod
    def build_evaluator(cls, cfg, dataset_name, output_folder=None):
        output_folder = output_folder or os.path.join(cfg.OUTPUT_DIR, "inference")
        return SemSegEvaluator(dataset_name, distributed=True, output_dir=output_folder)

    @classmethod
    def build_lr_scheduler(cls, cfg, optimizer):
        if cfg.SOLVER.LR_SCHEDULER_NAME == "WarmupPolyLR":
            return build_poly_lr_scheduler(cfg, optimizer)
        return super().build_lr_scheduler(cfg, optimizer)
