"""Nothing the user sets is ignored silently: an explicit SOLVER.MAX_ITER / SOLVER.WARMUP_ITERS
wins over SOLVER.DECON.EPOCHS (and the log says so), and keys a trainer does not read are
named in a warning."""
import json

import pytest

from decon_d2.config.explicit_keys import ignored_in_finetuning, ignored_in_pretraining
from decon_d2.engine.pretrain_trainer import derive_schedule
from decon_d2.engine.schedules import compute_schedule
from decon_d2.config import build_cfg
from tools.paths import REPO_ROOT, config_path
from tests.helpers.train_net import run_train_net

DEMO = config_path("demo/decon_ml_demo.yaml")  # 35 images, batch 4, 3 epochs: 24 iterations
ARGS = dict(dataset_size=35, global_batch=4, world_size=1, epochs=3, warmup_epochs=1,
            max_iter=40000, warmup_iters=1000, base_lr=1.0, lr_scaling="linear_256")


def test_epochs_derive_iterations_unless_a_key_is_explicit():
    s = compute_schedule(**ARGS)
    assert (s.max_iter, s.warmup_iters, s.notes) == (24, 8, ())
    s = compute_schedule(**{**ARGS, "max_iter": 4}, keep_max_iter=True)
    assert (s.max_iter, s.warmup_iters) == (4, 4)
    assert s.notes == ("SOLVER.MAX_ITER 4 set explicitly: used instead of SOLVER.DECON.EPOCHS "
                       "3 x 8 = 24", "warm-up of 8 iterations cut to MAX_ITER 4")
    s = compute_schedule(**{**ARGS, "warmup_iters": 2}, keep_warmup_iters=True)
    assert (s.max_iter, s.warmup_iters) == (24, 2) and "SOLVER.WARMUP_ITERS 2" in s.notes[0]


@pytest.mark.parametrize("opts, expected", [
    ([], (24, 8)),
    (["SOLVER.MAX_ITER", "4"], (4, 4)),
    (["SOLVER.WARMUP_ITERS", "3"], (24, 3)),
    (["SOLVER.MAX_ITER", "40", "SOLVER.WARMUP_ITERS", "2"], (40, 2)),
])
def test_command_line_values_reach_the_trainer_config(opts, expected, monkeypatch):
    monkeypatch.chdir(REPO_ROOT)  # $DETECTRON2_DATASETS may be relative
    cfg, sched = derive_schedule(build_cfg(DEMO, opts), world_size=1)
    assert (cfg.SOLVER.MAX_ITER, cfg.SOLVER.WARMUP_ITERS) == expected
    assert all(key in sched.describe() for key in opts[0::2])


def test_keys_a_trainer_does_not_read_are_named():
    cfg = build_cfg(DEMO, ["SOLVER.STEPS", "(10,)", "INPUT.MIN_SIZE_TRAIN", "(320,)"])
    warnings = ignored_in_pretraining(cfg)
    assert len(warnings) == 2 and "SOLVER.STEPS" in warnings[0] and "cosine" in warnings[0]
    # a memory key of the other loss head changes nothing: named, with the head
    cfg = build_cfg(DEMO, ["MODEL.DECON.DENSECL.DEC_PROJ_CHECKPOINT", "True"])
    assert ["MODEL.DECON.DENSECL.DEC_PROJ_CHECKPOINT" in w and "SlotConHead" in w
            for w in ignored_in_pretraining(cfg)] == [True]
    dense = build_cfg(config_path("demo/decon_densecl_ml_demo.yaml"),
                      ["MODEL.DECON.SLOTCON.DEC_PROJ_CHECKPOINT", "True"])
    assert ["MODEL.DECON.SLOTCON.DEC_PROJ_CHECKPOINT" in w for w in
            ignored_in_pretraining(dense)] == [True]
    ft = build_cfg(config_path("finetune/demo/mask_rcnn_R_50_FPN_demo.yaml"),
                   ["SOLVER.DECON.EPOCHS", "12"])
    assert ignored_in_finetuning(ft) == [
        "SOLVER.DECON.EPOCHS is set to 12 but fine-tuning ignores it (a pre-training key)"]


def test_shipped_configs_set_nothing_that_is_ignored_or_overridden():
    root = REPO_ROOT / "configs"
    for path in sorted(root.rglob("*.yaml")):
        if path.name.startswith("Base-"):
            continue
        cfg = build_cfg(str(path))
        if cfg.MODEL.META_ARCHITECTURE == "DeCon":
            assert not ignored_in_pretraining(cfg), path
            if cfg.SOLVER.DECON.EPOCHS > 0:  # the epochs own the schedule
                assert cfg.SOLVER.MAX_ITER == 40000 and cfg.SOLVER.WARMUP_ITERS == 1000, path
        else:
            assert not ignored_in_finetuning(cfg), path


@pytest.mark.slow
def test_max_iter_on_the_command_line_of_a_demo_config(tmp_path, monkeypatch, capfd):
    """The new user's try: ``SOLVER.MAX_ITER 2`` on the demo config runs 2 iterations (the
    command line through train_net.py's parser and main, in this process)."""
    monkeypatch.chdir(REPO_ROOT)
    run_train_net("--config-file", DEMO, "SOLVER.MAX_ITER", 2, "DATALOADER.NUM_WORKERS", 0,
                  "OUTPUT_DIR", tmp_path)
    log = "".join(capfd.readouterr())
    assert "SOLVER.MAX_ITER 2 set explicitly: used instead of SOLVER.DECON.EPOCHS 3" in log
    iterations = [json.loads(line)["iteration"] for line in open(tmp_path / "metrics.json")]
    assert iterations[-1] == 1
