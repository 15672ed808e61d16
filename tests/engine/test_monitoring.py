"""Monitoring of pre-training: online probe hook, slot maps (hook and CLI), health signals."""
import json
import math
import os
import subprocess
import sys

import numpy as np
import pytest
import torch
from PIL import Image

from decon_d2.engine import PretrainTrainer
from decon_d2.modeling.heads.slotcon.health import slot_health
from tools.paths import REPO_ROOT, config_path
from decon_d2.variants import get_variant
from tests.helpers import build_instant_model, instant_test_cfg, register_synthetic_sem_seg, write_photos

HEALTH = ("proto_entropy", "protos_used", "slots_kept", "agreement", "agreement_excess")


def _one_hot_scores(assign, k):
    """B x K x H x W scores whose arg-max is ``assign`` (B x H x W)."""
    return torch.nn.functional.one_hot(assign, k).permute(0, 3, 1, 2).float()


def test_health_signals_of_a_collapse_and_of_uniform_usage():
    k, b = 8, 2
    boxes = [torch.tensor([[0.0, 0.0, 1.0, 1.0]] * b)] * 2
    collapsed = [_one_hot_scores(torch.zeros(b, 4, 4, dtype=torch.long), k)] * 2
    present = [torch.zeros(b, k, dtype=torch.bool).index_fill_(1, torch.tensor([0]), True)] * 2
    h = slot_health(collapsed, collapsed, collapsed, present, present, boxes)
    assert h == {"proto_entropy": 0.0, "protos_used": 1.0, "slots_kept": 1.0, "agreement": 1.0,
                 "agreement_chance": 1.0, "agreement_excess": 0.0}  # all of it by chance
    # every prototype on exactly 4 of the 32 pixels of a view; the student disagrees everywhere
    uniform = torch.arange(k).repeat_interleave(4).view(b, 4, 4)
    t = [_one_hot_scores(uniform, k)] * 2
    s = [_one_hot_scores((uniform + 1) % k, k)] * 2
    full = [torch.ones(b, k, dtype=torch.bool)] * 2
    h = slot_health(s, t, t, full, full, boxes)
    assert h["proto_entropy"] == pytest.approx(math.log(k)) and h["protos_used"] == k
    assert h["agreement"] == 0.0 and h["slots_kept"] == k
    assert h["agreement_chance"] == pytest.approx(1 / k) and h["agreement_excess"] < 0
    h = slot_health(t, t, t, full, full, boxes)  # the student agrees everywhere
    assert h["agreement"] == 1.0 and h["agreement_excess"] == pytest.approx(1 - 1 / k)
    # two prototypes, 3/4 and 1/4 of the pixels in both assignments: chance 9/16 + 1/16
    skew = [_one_hot_scores((torch.arange(2 * 16) % 4 == 3).long().view(b, 4, 4), k)] * 2
    assert slot_health(skew, skew, skew, full, full, boxes)["agreement_chance"] == \
        pytest.approx(10 / 16)
    no_overlap = [torch.tensor([[1.0, 1.0, 0.0, 0.0]] * b)] * 2
    nothing = slot_health(s, t, t, full, full, no_overlap)
    assert math.isnan(nothing["agreement"]) and math.isnan(nothing["agreement_excess"])


@pytest.mark.slow
def test_online_probe_slot_maps_and_health_in_a_short_run(tmp_path):
    register_synthetic_sem_seg("monitor_train", tmp_path / "seg_train", n=4, seed=0)
    register_synthetic_sem_seg("monitor_val", tmp_path / "seg_val", n=2, seed=1)
    out = tmp_path / "run"
    torch.manual_seed(0)
    cfg = instant_test_cfg(
        "decon_ml", "SOLVER.MAX_ITER", 3, "TEST.DECON.PROBE_PERIOD", 2,
        "TEST.DECON.PROBE_TRAIN", "monitor_train", "TEST.DECON.PROBE_VAL", "monitor_val",
        "TEST.DECON.PROBE_SIZE", 64, "TEST.DECON.PROBE_EPOCHS", 1, "TEST.DECON.VIS_PERIOD", 3,
        "TEST.DECON.VIS_NUM_IMAGES", 2, "TEST.DECON.VIS_SIZE", 64, output_dir=out)
    trainer = PretrainTrainer(cfg)
    names = [type(h).__name__ for h in trainer._hooks]
    assert names.index("MomentumTeacherHook") < names.index("OnlineProbeHook") \
        < names.index("PeriodicWriter")
    trainer.resume_or_load(resume=False)
    trainer.train()
    lines = [json.loads(x) for x in open(out / "metrics.json")]
    probes = [x for x in lines if "probe/res5/mIoU" in x]
    # before the first step, after iteration 2 (period) and after the last (3)
    assert [x["probe/iterations_done"] for x in probes] == [0, 2, 3]
    assert all(0 <= x["probe/p2/mIoU"] <= 100 and x["probe/seconds"] > 0 for x in probes)
    last = lines[-1]
    for level in ("res5", "p2", "p3", "p4", "p5"):
        for key in HEALTH:
            assert f"decon/{level}_{key}" in last, (level, key)
    assert 1 <= last["decon/p2_protos_used"] <= 8  # K = 8 in the instant test
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    events = EventAccumulator(str(out), size_guidance={"images": 0}).Reload()
    assert "slot_maps" in events.Tags()["images"]
    assert "probe/p2/mIoU" in events.Tags()["scalars"]


def test_probe_keys_are_checked_before_training(tmp_path):
    cfg = instant_test_cfg("slotcon", "TEST.DECON.PROBE_PERIOD", 5, output_dir=tmp_path)
    with pytest.raises(ValueError, match="PROBE_TRAIN"):
        PretrainTrainer(cfg)


def test_slot_maps_refuse_heads_without_prototypes(tmp_path):
    """DenseCL heads have no prototypes: the hook stops the run at start naming the key, the
    CLI fails with exit 1 and writes nothing."""
    from decon_d2.visualize.__main__ import main

    cfg = instant_test_cfg("densecl", "TEST.DECON.VIS_PERIOD", 5, "TEST.DECON.VIS_DATASET",
                           "decon_demo_unlabeled", output_dir=tmp_path)
    with pytest.raises(ValueError, match="VIS_PERIOD"):
        PretrainTrainer(cfg)
    torch.save({"model": build_instant_model("densecl").state_dict()}, tmp_path / "model.pth")
    (tmp_path / "config.yaml").write_text(instant_test_cfg("densecl").dump())
    Image.new("RGB", (80, 50), (200, 10, 10)).save(tmp_path / "0.png")
    png = tmp_path / "maps.png"
    assert main([str(tmp_path / "model.pth"), str(tmp_path / "0.png"), "--size", "64",
                 "--out", str(png)]) == 1
    assert not png.exists()


def test_visualize_draws_the_teachers_slot_assignment(tmp_path):
    """The PNG's layout (header, one row per image; columns: the image, slots of res5 and
    p2..p5, PCA of res5 and p2) and its content: each slot tile, read back pixel by pixel, is
    the teacher's arg-max prototype on that image in the fixed palette."""
    from decon_d2.probe import load_images
    from decon_d2.visualize.__main__ import main
    from decon_d2.visualize.slot_maps import HEADER, palette

    s = 64
    cfg = instant_test_cfg("decon_ml")
    model = build_instant_model("decon_ml", seed=1).eval()
    torch.save({"model": model.state_dict()}, tmp_path / "model.pth")
    (tmp_path / "config.yaml").write_text(cfg.dump())
    paths = [str(p) for p in write_photos(tmp_path / "photos", 2, size=(80, 100), seed=2)]
    png = tmp_path / "maps.png"
    assert main([str(tmp_path / "model.pth"), *paths, "--size", str(s), "--out", str(png)]) == 0
    grid = np.asarray(Image.open(png).convert("RGB")).astype(int)
    assert grid.shape == (HEADER + 2 * s, 8 * s, 3)
    images = load_images(paths, s)
    with torch.no_grad():
        x = (images.float() - model.pixel_mean) / model.pixel_std
        feats = model.teacher.backbone(x)
        want = {lv: h.embed(feats[lv])[1].argmax(1) for lv, h in model.teacher.heads.items()}
    assert list(want) == ["res5", "p2", "p3", "p4", "p5"]
    colours = palette(max(h.prototypes.num_embeddings for h in model.teacher.heads.values()))
    colours = colours.astype(int)
    drawn = set()
    for i in range(2):
        row = grid[HEADER + i * s:HEADER + (i + 1) * s]
        assert np.array_equal(row[:, :s], images[i].permute(1, 2, 0).numpy())
        for j, (level, assign) in enumerate(want.items(), 1):
            h, w = assign.shape[1:]
            ys = np.arange(h) * s // h + s // (2 * h)  # the centre pixel of each cell
            xs = j * s + np.arange(w) * s // w + s // (2 * w)
            centres = row[ys][:, xs]
            got = np.abs(centres[:, :, None, :] - colours[None, None]).sum(-1).argmin(-1)
            assert np.array_equal(got, assign[i].numpy()), (level, i)
            drawn |= set(got.ravel().tolist())
    assert len(drawn) > 1  # the maps are not one flat colour, so the comparison means something


@pytest.mark.slow
def test_online_probe_with_two_processes(tmp_path):
    cmd = [sys.executable, str(REPO_ROOT / "train_net.py"), "--config-file",
           config_path(get_variant("slotcon").instant_test), "--num-gpus", "2", "--dist-url",
           "auto", "SOLVER.MAX_ITER", "2", "SOLVER.IMS_PER_BATCH", "4", "OUTPUT_DIR",
           str(tmp_path), "TEST.DECON.PROBE_PERIOD", "1", "TEST.DECON.PROBE_TRAIN",
           "decon_demo_coco", "TEST.DECON.PROBE_VAL", "decon_demo_coco", "TEST.DECON.PROBE_SIZE",
           "64", "TEST.DECON.PROBE_MAX_IMAGES", "3", "TEST.DECON.PROBE_EPOCHS", "1"]
    env = dict(os.environ, OMP_NUM_THREADS="1")
    proc = subprocess.run(cmd, cwd=REPO_ROOT, env=env, capture_output=True, text=True,
                          timeout=600)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    log0 = (tmp_path / "log.txt").read_text()
    log1 = (tmp_path / "log.txt.rank1").read_text()
    assert log0.count("online probe after") == 3 and "online probe after" not in log1
    assert "probe/res5/mIoU" in (tmp_path / "metrics.json").read_text()
