"""Real training with the real DeCon model and two-view loader, at a tiny size (CPU).

Tiny = the instant-test configs of configs/quick_schedules/ (ResNet-18, 64-px crops, batch 2,
small heads, no loader workers unless said). The tests here take seconds to tens of seconds each
on 2 cores and are marked ``slow``.
"""
import itertools
import json
import os

import pytest
import torch
from detectron2.utils.env import seed_all_rng

from decon_d2.engine import PretrainTrainer as Trainer
from tests.helpers import instant_test_cfg, kill_and_resume



def tiny_cfg(variant, out, **extra):
    """The variant's instant-test config (configs/quick_schedules/); keyword
    ``SOLVER__MAX_ITER=3`` overrides ``SOLVER.MAX_ITER``."""
    seed_all_rng(0)  # as default_setup does with SEED: model initialisation depends on it
    opts = [str(x) for k, v in extra.items() for x in (k.replace("__", "."), v)]
    return instant_test_cfg(variant, *opts, output_dir=out)


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
    assert ckpt["decon_meta"]["variant"] == variant
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


@pytest.mark.slow
def test_kill_and_resume_equals_straight_run(tmp_path):
    """In fp16 with a GradScaler (the recipe's precision), whose state (scale, growth tracker,
    changed by the overflows of these first steps) goes through the checkpoint."""
    n = 4  # two loader workers: the augmentations are drawn in other processes
    extra = dict(SOLVER__MAX_ITER=n, SOLVER__CHECKPOINT_PERIOD=n // 2, DATALOADER__NUM_WORKERS=2,
                 SOLVER__AMP__ENABLED=True, SOLVER__AMP__PRECISION="float16")

    straight, interrupted, resumed = kill_and_resume(
        lambda name: Trainer(tiny_cfg("decon_ml", tmp_path / name, **extra)), n)

    assert interrupted == pytest.approx(_losses(straight), rel=1e-6, abs=1e-7)
    scaler = straight._trainer.grad_scaler.state_dict()
    assert scaler == resumed._trainer.grad_scaler.state_dict()
    ckpt = torch.load(tmp_path / "resumed" / "model_0000001.pth", map_location="cpu",
                      weights_only=False)
    assert ckpt["trainer"]["_trainer"]["grad_scaler"]["scale"] > 0
    a = straight.checkpointer.model.state_dict()
    b = resumed.checkpointer.model.state_dict()
    assert a.keys() == b.keys()
    for k in a:
        torch.testing.assert_close(b[k], a[k], rtol=1e-6, atol=1e-7, msg=k)


@pytest.mark.slow
def test_bf16_autocast_real_model_on_cpu(tmp_path, monkeypatch):
    """The networks run in bf16 (autocast entered by the step), the grouping scores, slots and
    loss values in fp32 (contracts.md: loss maths in fp32 under autocast)."""
    from decon_d2.modeling.heads.slotcon import SlotConHead

    cfg = tiny_cfg("slotcon", tmp_path, SOLVER__MAX_ITER=2, SOLVER__AMP__ENABLED=True,
                   SOLVER__AMP__PRECISION="bfloat16")
    trainer = Trainer(cfg)
    model = trainer.model
    modules = dict(model.named_modules())
    projectors = [n for n in modules if n.startswith("student.heads.") and n.endswith("projector")]
    assert projectors, sorted(modules)[:20]
    dtypes = {"stem": [], "projector": [], "losses": [], "grouping": []}

    def record(key):
        return lambda m, i, o: dtypes[key].append(o.dtype)

    modules["student.backbone.bottom_up.stem.conv1"].register_forward_hook(record("stem"))
    for name in projectors:  # one call on the list of views, one output map per view
        modules[name].register_forward_hook(
            lambda m, i, o: dtypes["projector"].extend(z.dtype for z in o))
    model.register_forward_hook(
        lambda m, i, o: dtypes["losses"].extend(v.dtype for v in o.values()))
    embed_views = SlotConHead.embed_views

    def recording_embed_views(self, maps):
        out = embed_views(self, maps)
        dtypes["grouping"] += [t.dtype for slots_scores in out for t in slots_scores]
        return out

    monkeypatch.setattr(SlotConHead, "embed_views", recording_embed_views)
    trainer.resume_or_load(resume=False)
    trainer.train()
    assert _finite(_losses(trainer)) and len(_losses(trainer)) == 2
    # 2 iterations x 2 views: the student stem and every student projector ran in bf16 ...
    assert dtypes["stem"] == [torch.bfloat16] * 4, dtypes["stem"]
    assert dtypes["projector"] == [torch.bfloat16] * 4 * len(projectors), dtypes["projector"]
    # ... and the grouping (student and teacher, both views) and the losses in fp32.
    assert dtypes["grouping"] and set(dtypes["grouping"]) == {torch.float32}, dtypes["grouping"]
    assert dtypes["losses"] and set(dtypes["losses"]) == {torch.float32}, dtypes["losses"]


def test_two_processes_gloo_via_train_net(reference_run):
    """train_net.py --num-gpus 2 on gloo: the session's reference run (tests/conftest.py) is
    exactly this run; it trained to the end on both processes."""
    assert (reference_run / "model_final.pth").exists()
    assert (reference_run / "log.txt.rank1").exists()  # both processes ran
    assert "Total training time" in (reference_run / "log.txt").read_text()
