"""What the tests share (as ``detectron2.utils.testing`` serves Detectron2's own tests): instant
configs and models, tiny data sets on disk, checkpoints, training drivers."""
from tools.benchmark.synthetic_batch import synthetic_batch

from .checkpoints import perturb_norm_stats, save_decon_checkpoint
from .collectives import assert_same_collectives, record_collectives
from .configs import R50_OPTS, build_instant_model, decon_opts, instant_test_cfg
from .files import register_synthetic_sem_seg, write_coco_instances, write_photos, write_sem_seg
from .runs import gloo_process_group, kill_and_resume, loss_history, spawn

__all__ = ["synthetic_batch", "perturb_norm_stats", "save_decon_checkpoint", "R50_OPTS",
           "build_instant_model", "decon_opts", "instant_test_cfg", "register_synthetic_sem_seg",
           "write_coco_instances", "write_photos", "write_sem_seg", "gloo_process_group",
           "kill_and_resume", "loss_history", "spawn", "record_collectives", "assert_same_collectives"]
