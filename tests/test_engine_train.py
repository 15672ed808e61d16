"""Real training with the real DeCon model and two-view loader, at a tiny size (CPU).

Tiny = ResNet-18 (Detectron2's BasicBlock R18, same FPN), 64-px crops, batch 2, small heads,
no loader workers unless said. The tests here take seconds to tens of seconds each on 2 cores and
are marked ``slow``.
"""
import itertools
import json
import os
import subprocess
import sys

import pytest
import torch
from detectron2.utils.env import seed_all_rng

from decon_d2.engine import Trainer, build_cfg

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
DEMO = {v: os.path.join(ROOT, "configs", "demo", f"{v}_demo.yaml")
        for v in ("decon_ml", "decon_sl", "slotcon")}
TINY = {
    "MODEL.RESNETS.DEPTH": 18,
    "MODEL.RESNETS.RES2_OUT_CHANNELS": 64,
    "MODEL.DECON.SLOTCON.NUM_PROTOTYPES": 16,
    "MODEL.DECON.SLOTCON.PROJ_HIDDEN_DIM": 64,
    "MODEL.DECON.SLOTCON.PRED_HIDDEN_DIM": 64,
    "MODEL.DECON.SLOTCON.PROJ_OUT_DIM": 32,
    "INPUT.DECON.CROP_SIZE": 64,
    "SOLVER.IMS_PER_BATCH": 2,
    "DATALOADER.NUM_WORKERS": 0,
    "SOLVER.DECON.EPOCHS": 0,
    "SOLVER.WARMUP_ITERS": 1,
    "SEED": 0,
}


def _opts(overrides):
    return [str(x) for kv in overrides.items() for x in kv]


def tiny_cfg(variant, out, **extra):
    """Tiny config; keyword ``SOLVER__MAX_ITER=3`` overrides ``SOLVER.MAX_ITER``."""
    seed_all_rng(0)  # as default_setup does with SEED: model initialisation depends on it
    extra = {k.replace("__", "."): v for k, v in extra.items()}
    return build_cfg(DEMO[variant], _opts({**TINY, **extra, "OUTPUT_DIR": out}))


def _losses(trainer):
    return [v for v, _ in trainer.storage.history("total_loss").values()]


def _finite(values):
    return all(v == v and abs(v) != float("inf") for v in values)


@pytest.mark.slow
@pytest.mark.parametrize("variant", ["decon_ml", "decon_sl", "slotcon"])
def test_each_variant_trains_a_few_iterations(variant, tmp_path):
    cfg = tiny_cfg(variant, tmp_path, SOLVER__MAX_ITER=3, SOLVER__CHECKPOINT_PERIOD=2)
    trainer = Trainer(cfg)
    names = [type(h).__name__ for h in trainer._hooks]
    assert names.index("MomentumTeacherHook") < names.index("PeriodicCheckpointer")
    assert names[0] == "IterationSeedHook"
    trainer.resume_or_load(resume=False)
    trainer.train()
    assert len(_losses(trainer)) == 3 and _finite(_losses(trainer))
    pth = sorted(f for f in os.listdir(tmp_path) if f.endswith(".pth"))
    assert pth == ["model_0000001.pth", "model_final.pth"]
    ckpt = torch.load(tmp_path / "model_final.pth", map_location="cpu", weights_only=False)
    assert ckpt["iteration"] == 2 and ckpt["decon_meta"]["iteration"] == 2
    assert ckpt["decon_meta"]["variant"] == cfg.MODEL.DECON.VARIANT
    assert "optimizer" in ckpt["trainer"]["_trainer"] and "LRScheduler" in ckpt["trainer"]["hooks"]
    assert "grad_scaler" not in ckpt["trainer"]["_trainer"]  # AMP off
    assert any(k.startswith("teacher.") for k in ckpt["model"])
    metrics = [json.loads(line) for line in open(tmp_path / "metrics.json")]
    for key in ("lr", "data_time", "decon/teacher_momentum", "data/corrupt_images_replaced",
                "total_loss"):
        assert key in metrics[-1], key


@pytest.mark.slow
def test_loss_falls_on_a_fixed_batch(tmp_path):
    cfg = tiny_cfg(
        "decon_ml", tmp_path, SOLVER__MAX_ITER=20, SOLVER__IMS_PER_BATCH=4,
        SOLVER__WARMUP_ITERS=0, SOLVER__DECON__LR_SCALING="none", SOLVER__BASE_LR=0.5,
        SOLVER__DECON__OPTIMIZER="SGD", SOLVER__WEIGHT_DECAY=0.0,
        INPUT__DECON__PHOTOMETRIC=False,
        SOLVER__CHECKPOINT_PERIOD=5, SOLVER__DECON__CHECKPOINT_MAX_KEEP=2,
    )
    batch = next(iter(Trainer.build_train_loader(cfg)))

    class FixedBatchTrainer(Trainer):
        @classmethod
        def build_train_loader(cls, cfg, seed=None, start_iter=0):
            return itertools.repeat(batch)

    trainer = FixedBatchTrainer(cfg)
    trainer.resume_or_load(resume=False)
    trainer.train()
    losses = _losses(trainer)
    assert sum(losses[-5:]) / 5 < sum(losses[:5]) / 5, losses
    kept = sorted(f for f in os.listdir(tmp_path) if f.endswith(".pth"))
    assert kept == ["model_0000014.pth", "model_0000019.pth", "model_final.pth"]


class _Killed(Exception):
    pass


@pytest.mark.slow
def test_kill_and_resume_equals_straight_run(tmp_path):
    n = 4  # two loader workers: the augmentations are drawn in other processes
    extra = dict(SOLVER__MAX_ITER=n, SOLVER__CHECKPOINT_PERIOD=n // 2, DATALOADER__NUM_WORKERS=2)

    straight = Trainer(tiny_cfg("decon_ml", tmp_path / "straight", **extra))
    straight.resume_or_load(resume=False)
    straight.train()

    killed = Trainer(tiny_cfg("decon_ml", tmp_path / "resumed", **extra))
    killed.resume_or_load(resume=False)

    class Kill(killed._hooks[0].__class__.__base__):
        def after_step(self):  # registered last: after the checkpointer wrote model_{n/2 - 1}
            if self.trainer.iter == n // 2 - 1:
                raise _Killed()

    killed.register_hooks([Kill()])
    with pytest.raises(_Killed):
        killed.train()
    first_half = _losses(killed)

    resumed = Trainer(tiny_cfg("decon_ml", tmp_path / "resumed", **extra))
    resumed.resume_or_load(resume=True)
    assert resumed.start_iter == n // 2
    resumed.train()

    assert first_half + _losses(resumed) == pytest.approx(_losses(straight), rel=1e-6, abs=1e-7)
    a = straight.checkpointer.model.state_dict()
    b = resumed.checkpointer.model.state_dict()
    assert a.keys() == b.keys()
    for k in a:
        torch.testing.assert_close(b[k], a[k], rtol=1e-6, atol=1e-7, msg=k)


@pytest.mark.slow
def test_bf16_autocast_real_model_on_cpu(tmp_path):
    cfg = tiny_cfg("slotcon", tmp_path, SOLVER__MAX_ITER=2, SOLVER__AMP__ENABLED=True,
                   SOLVER__AMP__PRECISION="bfloat16")
    trainer = Trainer(cfg)
    trainer.resume_or_load(resume=False)
    trainer.train()
    assert _finite(_losses(trainer))


@pytest.mark.slow
def test_two_processes_gloo_via_train_net(tmp_path):
    overrides = {**TINY, "SOLVER.MAX_ITER": 2, "SOLVER.IMS_PER_BATCH": 4, "OUTPUT_DIR": tmp_path}
    cmd = [sys.executable, os.path.join(ROOT, "train_net.py"), "--config-file", DEMO["decon_ml"],
           "--num-gpus", "2", "--dist-url", "auto"] + _opts(overrides)
    env = dict(os.environ, OMP_NUM_THREADS="1")
    proc = subprocess.run(cmd, cwd=ROOT, env=env, capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    assert (tmp_path / "model_final.pth").exists()
    assert (tmp_path / "log.txt.rank1").exists()  # both processes ran
