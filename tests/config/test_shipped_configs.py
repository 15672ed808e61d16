"""Every yaml under configs/ loads through the training set-up; the recipes' arithmetic holds."""

import glob
import os
from argparse import Namespace

import pytest

from decon_d2.config import build_cfg
from decon_d2.engine import setup
from decon_d2.engine.schedules import compute_schedule
from tools.paths import REPO_ROOT
from decon_d2.variants import VARIANTS, variant_name

ROOT = str(REPO_ROOT)
CONFIGS = sorted(glob.glob(os.path.join(ROOT, "configs", "**", "*.yaml"), recursive=True))
LEAVES = [c for c in CONFIGS if not os.path.basename(c).startswith("Base-")]


def test_configs_exist():
    names = {os.path.relpath(c, os.path.join(ROOT, "configs")) for c in CONFIGS}
    for required in (
        "decon_pretrain.yaml",
        "decon_sl_pretrain.yaml",
        "slotcon_pretrain.yaml",
        "decon_pretrain_cocoplus.yaml",
        "decon_pretrain_imagenet.yaml",
        "demo/decon_ml_demo.yaml",
        "demo/decon_sl_demo.yaml",
        "demo/slotcon_demo.yaml",
        "decon_fcn_pretrain.yaml",
        "decon_fcn_pretrain_cocoplus.yaml",
        "decon_fcn_pretrain_imagenet.yaml",
        "demo/decon_fcn_demo.yaml",
        "densecl_pretrain.yaml",
        "decon_densecl_sl_pretrain.yaml",
        "decon_densecl_ml_pretrain.yaml",
    ):
        assert required in names
    # every segmentation recipe has a random-initialisation twin
    seg = [n for n in names if n.startswith("finetune/") and n.endswith("_decon.yaml")
           and n.startswith(("finetune/fcn_", "finetune/semantic_"))]
    assert len(seg) == 6, seg
    for n in seg:
        assert n.replace("_decon.yaml", "_random_init.yaml") in names, n


@pytest.mark.parametrize("path", LEAVES, ids=lambda p: os.path.relpath(p, ROOT))
def test_model_builds_on_the_meta_device(path):
    """Every leaf builds its model (no memory, no data): the recipes we cannot run here."""
    from decon_d2.convert.targets import target_shapes

    cfg = build_cfg(path, ["MODEL.WEIGHTS", ""])
    shapes = target_shapes(cfg)
    assert shapes
    if cfg.MODEL.META_ARCHITECTURE == "SlidingWindowSegmentor":
        classes = cfg.MODEL.SEM_SEG_HEAD.NUM_CLASSES
        assert shapes["sem_seg_head.predictor.weight"][0] == classes


@pytest.mark.parametrize("path", LEAVES, ids=lambda p: os.path.relpath(p, ROOT))
def test_config_loads_through_setup(path, tmp_path):
    args = Namespace(
        config_file=path,
        opts=["OUTPUT_DIR", str(tmp_path)],
        eval_only=False,
        resume=False,
        num_gpus=1,
    )
    cfg = setup(args)
    if cfg.MODEL.META_ARCHITECTURE == "DeCon":
        assert cfg.SOLVER.REFERENCE_WORLD_SIZE == 0  # the epoch arithmetic owns the schedule
        assert cfg.INPUT.FORMAT == "RGB" and not cfg.MODEL.RESNETS.STRIDE_IN_1X1
        assert list(cfg.MODEL.PIXEL_MEAN) == [123.675, 116.28, 103.53]
        assert not cfg.DATALOADER.ASPECT_RATIO_GROUPING
        # epochs define the schedule, except in the 3-iteration instant tests
        assert cfg.SOLVER.DECON.EPOCHS > 0 or "quick_schedules" in path


def test_paper_recipe_arithmetic():
    cfg = build_cfg(os.path.join(ROOT, "configs", "decon_pretrain.yaml"))
    s = compute_schedule(
        dataset_size=cfg.SOLVER.DECON.DATASET_SIZE,
        global_batch=cfg.SOLVER.IMS_PER_BATCH,
        world_size=8,
        epochs=cfg.SOLVER.DECON.EPOCHS,
        warmup_epochs=cfg.SOLVER.DECON.WARMUP_EPOCHS,
        max_iter=0,
        warmup_iters=0,
        base_lr=cfg.SOLVER.BASE_LR,
        lr_scaling=cfg.SOLVER.DECON.LR_SCALING,
    )
    assert (s.per_gpu_batch, s.iters_per_epoch, s.max_iter, s.warmup_iters) == (
        64,
        231,
        184800,
        1155,
    )
    assert s.lr == 2.0
    assert cfg.SOLVER.DECON.OPTIMIZER == "LARS" and cfg.SOLVER.WEIGHT_DECAY == 1e-5
    assert cfg.SOLVER.AMP.ENABLED and cfg.SOLVER.AMP.PRECISION == "float16"
    assert cfg.MODEL.DECON.SLOTCON.NUM_PROTOTYPES == 256
    assert cfg.INPUT.DECON.CROP_SIZE == 224 and cfg.DATASETS.TRAIN == ("coco_2017_train_unlabeled",)


def test_demo_schedule_derived_from_the_embedded_data_set():
    from detectron2.utils import comm

    from decon_d2.engine.pretrain_trainer import derive_schedule

    cfg = build_cfg(os.path.join(ROOT, "configs", "demo", "decon_ml_demo.yaml"))
    cfg2, s = derive_schedule(cfg, comm.get_world_size())
    assert s.dataset_size == 35 and s.iters_per_epoch == 35 // cfg.SOLVER.IMS_PER_BATCH
    assert cfg2.SOLVER.MAX_ITER == s.iters_per_epoch * cfg.SOLVER.DECON.EPOCHS
    assert 20 <= cfg2.SOLVER.MAX_ITER <= 40


@pytest.mark.parametrize("variant", sorted(VARIANTS))
def test_each_variant_leaf_states_its_variant_with_explicit_keys(variant):
    """The paper, demo, instant-test (and study) leaf of each catalogue variant set the four
    decoder keys themselves (not inherited from a base or a default), and the model those keys
    and the loss head build reports that variant's name."""
    row = VARIANTS[variant]
    for rel in filter(None, (row.pretrain, row.demo, row.instant_test, row.study)):
        path = os.path.join(ROOT, "configs", rel)
        with open(path) as f:
            text = f.read()
        for key in ("DECODER_TYPE", "DECODER_LEVELS", "ENCODER_LOSS_WEIGHT",
                    "SKIP_CHANNEL_DROPOUT"):
            assert f"    {key}:" in text, (rel, key)
        d = build_cfg(path).MODEL.DECON
        assert variant_name(d.HEAD.NAME, d.DECODER_TYPE, d.DECODER_LEVELS) == variant, rel


def test_densecl_recipe_arithmetic():
    """DenseCL's COCO recipe: 256 = 8 x 32, lr 0.3, 462 iters/epoch, 800 epochs, no warm-up."""
    for name in ("densecl_pretrain.yaml", "decon_densecl_sl_pretrain.yaml",
                 "decon_densecl_ml_pretrain.yaml"):
        cfg = build_cfg(os.path.join(ROOT, "configs", name))
        s = compute_schedule(
            dataset_size=cfg.SOLVER.DECON.DATASET_SIZE, global_batch=cfg.SOLVER.IMS_PER_BATCH,
            world_size=8, epochs=cfg.SOLVER.DECON.EPOCHS,
            warmup_epochs=cfg.SOLVER.DECON.WARMUP_EPOCHS, max_iter=0, warmup_iters=0,
            base_lr=cfg.SOLVER.BASE_LR, lr_scaling=cfg.SOLVER.DECON.LR_SCALING)
        assert (s.per_gpu_batch, s.iters_per_epoch, s.max_iter, s.warmup_iters, s.lr) == (
            32, 462, 369600, 0, 0.3), name
        assert cfg.SOLVER.DECON.OPTIMIZER == "SGD" and cfg.SOLVER.WEIGHT_DECAY == 1e-4
        assert cfg.SOLVER.BASE_LR_END == 0.0 and not cfg.SOLVER.AMP.ENABLED
        assert cfg.SOLVER.DECON.TEACHER_BASE_MOMENTUM == cfg.SOLVER.DECON.TEACHER_FINAL_MOMENTUM
        assert cfg.MODEL.DECON.HEAD.NAME == "DenseCLHead"
        d = cfg.MODEL.DECON.DENSECL
        assert (d.QUEUE_LENGTH, d.NECK_OUT_DIM, d.TEMPERATURE, d.LOSS_LAMBDA) == (
            65536, 128, 0.2, 0.5)
        i = cfg.INPUT.DECON
        assert (i.CROP_SIZE, i.MIN_SCALE, i.MIN_OVERLAP, tuple(i.COLOR_JITTER),
                tuple(i.BLUR_PROB), tuple(i.SOLARIZE_PROB)) == (
            224, 0.2, 0.0, (0.4, 0.4, 0.4, 0.1), (0.5, 0.5), (0.0, 0.0))
