"""DenseCL / DeCon-DenseCL trained for real: 2 gloo processes equal 1 process, the queues resume
exactly, each demo config trains, and each checkpoint converts into Mask R-CNN R50-FPN."""
import json

import pytest
import torch
from detectron2.checkpoint import DetectionCheckpointer
from detectron2.modeling import build_model
from detectron2.utils.env import seed_all_rng
from detectron2.utils.events import EventStorage

from decon_d2.convert.__main__ import main as convert_main
from decon_d2.config import build_cfg
from decon_d2.engine import PretrainTrainer
from decon_d2.engine.checkpoint import DeConMeta
from decon_d2.modeling.dist import batch_shuffle, batch_unshuffle
from tools.paths import config_path
from tests.helpers import (
    assert_same_collectives, gloo_process_group, instant_test_cfg, kill_and_resume, loss_history,
    record_collectives, spawn, synthetic_batch,
)

WORLD, N_GLOBAL = 2, 4
SYNC = ("MODEL.RESNETS.NORM", "SyncBN", "MODEL.FPN.NORM", "SyncBN")


def _queues(model):
    return {k: v.clone() for k, v in model.state_dict().items() if "queue" in k}


def _step(model, batch):
    with EventStorage():
        losses = model(batch)
    return {k: v.item() for k, v in losses.items()}, _queues(model)


def _worker(rank, tmp):
    with gloo_process_group(rank, WORLD, tmp):
        torch.manual_seed(123)  # the same permutation draw on both ranks; rank 0's is used
        x = torch.arange(3 * N_GLOBAL, dtype=torch.float64).view(N_GLOBAL, 3)
        mine = x[rank * 2:(rank + 1) * 2]
        shuffled, perm = batch_shuffle(mine)
        result = {"perm": perm, "shuffled": shuffled, "round_trip": batch_unshuffle(shuffled, perm)}
        model = build_model(instant_test_cfg("decon_densecl_sl", *SYNC))
        model.load_state_dict(torch.load(f"{tmp}/model.pth"))
        model.double().train()
        result["teacher_batch_shuffle"] = model.teacher_batch_shuffle
        batch = torch.load(f"{tmp}/batch.pth")
        with record_collectives() as calls:
            result["losses"], result["queues"] = _step(model, batch[rank * 2:(rank + 1) * 2])
        result["collectives"] = calls
        torch.save(result, f"{tmp}/rank{rank}.pth")


@pytest.mark.slow
def test_two_gloo_processes_equal_one_process(tmp_path):
    """Gathered keys fill the queues in rank order = the one-process batch order, and the mean of
    the per-process losses (what DDP optimises) is the one-process loss; shuffle-BN's
    permutation is agreed by all processes and undone exactly. The model runs its teacher with
    shuffle-BN on: with synchronised BN (statistics of the global batch, whatever its order)
    the shuffled teacher must give exactly the unshuffled features."""
    torch.manual_seed(0)
    model = build_model(instant_test_cfg("decon_densecl_sl", *SYNC))
    model.copy_student_to_teacher()
    torch.save(model.state_dict(), tmp_path / "model.pth")
    batch = synthetic_batch(N_GLOBAL, 64, seed=3)
    torch.save(batch, tmp_path / "batch.pth")
    ref_losses, ref_queues = _step(model.double().train(), batch)
    spawn(_worker, (str(tmp_path),), WORLD)
    ranks = [torch.load(tmp_path / f"rank{r}.pth") for r in range(WORLD)]

    assert all(r["teacher_batch_shuffle"] for r in ranks)
    assert_same_collectives([r["collectives"] for r in ranks])  # same ops, dtypes, shapes
    for k, v in ref_losses.items():
        assert sum(r["losses"][k] for r in ranks) / WORLD == pytest.approx(v, rel=1e-9), k
    assert ref_queues["student.heads.p2.queue_ptr"].item() == N_GLOBAL
    for r in ranks:
        for k, v in ref_queues.items():
            torch.testing.assert_close(r["queues"][k], v, rtol=1e-9, atol=1e-12, msg=k)
    x = torch.arange(3 * N_GLOBAL, dtype=torch.float64).view(N_GLOBAL, 3)
    torch.testing.assert_close(ranks[0]["perm"], ranks[1]["perm"])
    perm = ranks[0]["perm"]
    for rank, r in enumerate(ranks):
        torch.testing.assert_close(r["shuffled"], x[perm[rank * 2:(rank + 1) * 2]])
        torch.testing.assert_close(r["round_trip"], x[rank * 2:(rank + 1) * 2])


def _tiny(variant, out, **extra):
    seed_all_rng(0)
    opts = [str(x) for k, v in extra.items() for x in (k.replace("__", "."), v)]
    return instant_test_cfg(variant, *opts, output_dir=out)


@pytest.mark.slow
def test_queues_resume_exactly_after_kill(tmp_path):
    n, extra = 4, dict(SOLVER__MAX_ITER=4, SOLVER__CHECKPOINT_PERIOD=2)
    initial = _queues(PretrainTrainer(_tiny("decon_densecl_ml", tmp_path / "init", **extra)).model)
    straight, interrupted, resumed = kill_and_resume(
        lambda name: PretrainTrainer(_tiny("decon_densecl_ml", tmp_path / name, **extra)), n)

    assert interrupted == pytest.approx(loss_history(straight), rel=1e-6, abs=1e-7)
    a, b = _queues(straight.model), _queues(resumed.model)
    # 4 iterations x 2 keys through 6-row queues: the pointer wrapped to 2, every row replaced
    assert a["student.heads.p2.queue_ptr"].item() == 2
    assert not torch.isclose(a["student.heads.p2.queue_dense"],
                             initial["student.heads.p2.queue_dense"]).all(dim=1).any()
    for k in a:
        torch.testing.assert_close(b[k], a[k], rtol=0, atol=0, msg=k)


@pytest.mark.slow
def test_lambda_warmup_hook_trains_the_global_loss_first(tmp_path):
    cfg = _tiny("densecl", tmp_path, MODEL__DECON__DENSECL__LAMBDA_WARMUP_ITERS=2)
    trainer = PretrainTrainer(cfg)
    trainer.resume_or_load(resume=False)
    trainer.train()
    dense = [v for v, _ in trainer.storage.history("loss_enc_dense").values()]
    raw = [v for v, _ in trainer.storage.history("decon/res5_dense").values()]
    assert dense[:2] == [0.0, 0.0] and dense[2] == pytest.approx(0.5 * raw[2]) and raw[0] > 0
    slotcon = PretrainTrainer(_tiny("slotcon", tmp_path / "s",
                                    MODEL__DECON__DENSECL__LAMBDA_WARMUP_ITERS=2))
    with pytest.raises(ValueError, match="LAMBDA_WARMUP_ITERS"):
        slotcon.train()


DEMOS = {"densecl": "demo/densecl_demo.yaml", "decon_densecl_sl": "demo/decon_densecl_sl_demo.yaml",
         "decon_densecl_ml": "demo/decon_densecl_ml_demo.yaml"}


@pytest.mark.slow
@pytest.mark.parametrize("variant", sorted(DEMOS))
def test_demo_config_trains_two_iterations(variant, tmp_path):
    """The demo twin itself (ResNet-50, embedded photos), 2 iterations, with its checkpoint."""
    seed_all_rng(0)
    cfg = build_cfg(config_path(DEMOS[variant]), [
        "SOLVER.DECON.EPOCHS", 0, "SOLVER.MAX_ITER", 2, "DATALOADER.NUM_WORKERS", 0,
        "OUTPUT_DIR", str(tmp_path)])
    trainer = PretrainTrainer(cfg)
    trainer.resume_or_load(resume=False)
    trainer.train()
    losses = loss_history(trainer)
    assert len(losses) == 2 and all(v == v and abs(v) < 1e3 for v in losses)
    ckpt = torch.load(tmp_path / "model_final.pth", map_location="cpu", weights_only=False)
    meta = ckpt["decon_meta"]
    assert (meta["ssl_head"], meta["export_branch"], meta["norm"]) == ("DenseCLHead", "student",
                                                                       "BN")
    metrics = [json.loads(line) for line in open(tmp_path / "metrics.json")]
    assert metrics[-1]["decon/teacher_momentum"] == 0.999
    assert any(k.endswith("_dense") for k in metrics[-1])


@pytest.mark.slow
@pytest.mark.parametrize("variant", ["densecl", "decon_densecl_ml"])
def test_checkpoint_converts_to_mask_rcnn_with_matching_features(variant, tmp_path):
    """Our DenseCL checkpoint -> Mask R-CNN R50-FPN .pkl: the student by default (decon_meta),
    queues and necks dropped with a reason, stock Mask R-CNN features equal the student's."""
    torch.manual_seed(0)
    cfg = instant_test_cfg(variant, r50=True)
    model = build_model(cfg)
    with torch.no_grad():  # student and teacher statistics differ, as after training
        for name, buf in model.named_buffers():
            if name.startswith("student.") and name.endswith("running_var"):
                buf.mul_(1.5)
    meta = DeConMeta(cfg, model, lambda: 7).state_dict()
    DetectionCheckpointer(model, str(tmp_path)).save("model_final", iteration=7, decon_meta=meta)
    (tmp_path / "config.yaml").write_text(cfg.dump())
    out = tmp_path / "export" / "densecl.pkl"
    out.parent.mkdir()
    assert convert_main([str(tmp_path / "model_final.pth"), str(out)]) == 0
    report = json.loads((out.parent / "densecl.report.json").read_text())
    v = report["verification"]
    assert v["passed"] and v["max"] <= 1e-4
    assert v["reference"] == "DeCon model (student.backbone) from the pre-training config"
    levels = {"p2", "p3", "p4", "p5"} if variant == "decon_densecl_ml" else set()
    assert set(v["max_abs_diff"]) == {"res2", "res3", "res4", "res5"} | levels
    assert report["meta"]["branch"] == "student"
    assert report["meta"]["pretrain_ssl_head"] == "DenseCLHead"
    assert "DenseCL negative-key queue (pre-training only)" in report["dropped"]
