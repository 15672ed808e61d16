"""The dense linear probe (decon_d2/probe): labels, sampling, metrics, learning, determinism, and
that weights which do not load completely are refused."""
import math
import pickle

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from decon_d2.probe import (IGNORE, ProbeSet, ProbeSettings, ProbeWeightsError, class_info,
                            load_probe_backbone, probe_features, segmentation_scores,
                            semantic_map)
from decon_d2.probe.labels import ClassInfo
from decon_d2.probe.linear import sampled_logits
from decon_d2.probe.weights import _build, _backbone_cfg

NUM_CLASSES = 4


def colour_coded_set(n, size=32, seed=0, shuffle_labels=False):
    """Images whose pixels carry their class as a colour (plus noise), in rectangles aligned to
    the 4-px cells of ``pooled_colour``: linearly separable from its features.
    ``shuffle_labels`` permutes each label map's pixels: no relation to the features is left."""
    g = torch.Generator().manual_seed(seed)
    colours = torch.tensor([[20, 20, 20], [230, 30, 30], [30, 230, 30], [30, 30, 230]])
    labels = torch.zeros(n, size, size, dtype=torch.uint8)
    for i in range(n):
        for c in range(1, NUM_CLASSES):
            y, x = (torch.randint(0, size // 8, (2,), generator=g) * 4).tolist()
            labels[i, y:y + size // 2, x:x + size // 2] = c
    noise = torch.randn(n, 3, size, size, generator=g) * 10
    images = (colours[labels.long()].permute(0, 3, 1, 2) + noise).clamp(0, 255).to(torch.uint8)
    labels[:, 0] = IGNORE  # a row of ignored pixels
    if shuffle_labels:
        perm = torch.randperm(size * size, generator=g)
        labels = labels.flatten(1)[:, perm].view(n, size, size)
    info = ClassInfo(["background", "red", "green", "blue"], 0, "sem_seg")
    return ProbeSet("colours", images, labels, info)


def pooled_colour(x, levels):
    """A fake backbone: 4x4 average pooling of the normalised image (8x8 map for 32 px)."""
    return {lv: F.avg_pool2d(x, 4) for lv in levels}


def _probe(train, val, settings=ProbeSettings(epochs=15, lr=0.05, batch_size=4)):
    return probe_features(pooled_colour, [0.0] * 3, [255.0] * 3, train, val, ["res5"], settings)


def test_probe_learns_separable_classes_and_not_shuffled_ones():
    val = colour_coded_set(8, seed=1)
    good = _probe(colour_coded_set(24, seed=0), val)["res5"]
    assert good["mIoU"] > 90 and good["pixel_acc"] > 95, good
    bad = _probe(colour_coded_set(24, seed=0, shuffle_labels=True), val)["res5"]
    # chance: what predicting the most frequent class everywhere scores on val
    counts = torch.bincount(val.labels[val.labels != IGNORE].long(), minlength=NUM_CLASSES)
    majority = counts.max() / counts.sum() * 100 / (counts > 0).sum()
    assert bad["mIoU"] < majority + 5, (bad, majority)


def test_probe_is_deterministic():
    train, val = colour_coded_set(12, seed=0), colour_coded_set(4, seed=1)
    settings = ProbeSettings(epochs=2, lr=0.01, batch_size=4)
    a, b = _probe(train, val, settings), _probe(train, val, settings)
    for r in (a, b):
        r["res5"].pop("seconds")
    assert a == b


def test_sampled_logits_equal_full_bilinear_upsampling():
    torch.manual_seed(0)
    for h, size in ((7, (224, 227)), (56, (224, 224)), (5, (37, 40))):
        maps = torch.randn(4, 6, h, h + 1, dtype=torch.float64)
        w, b = torch.randn(3, 6, dtype=torch.float64), torch.randn(3, dtype=torch.float64)
        idx = torch.tensor([3, 1])
        full = F.interpolate(F.conv2d(maps[idx], w[:, :, None, None], b), size=size,
                             mode="bilinear", align_corners=False)
        rows = torch.randint(0, size[0], (2, 500))
        cols = torch.randint(0, size[1], (2, 500))
        ref = full[torch.arange(2)[:, None], :, rows, cols].permute(0, 2, 1)
        got = sampled_logits(w, b, maps, idx, rows, cols, size)
        assert torch.allclose(got, ref, atol=1e-12), (h, (got - ref).abs().max())


def test_scores_against_hand_computed_confusion():
    cm = torch.tensor([[50, 10, 0], [5, 20, 0], [0, 0, 0]])  # class 2 absent: not averaged
    s = segmentation_scores(cm, background=0, class_names=["bg", "a", "b"])
    iou_bg, iou_a = 50 / (50 + 10 + 5), 20 / (20 + 5 + 10)
    assert s["pixel_acc"] == pytest.approx(70 / 85 * 100)
    assert s["mIoU"] == pytest.approx((iou_bg + iou_a) / 2 * 100)
    assert s["mIoU_fg"] == pytest.approx(iou_a * 100)
    assert s["iou"]["b"] is None


def test_instance_masks_become_a_class_map():
    square = [[2.0, 2.0, 8.0, 2.0, 8.0, 8.0, 2.0, 8.0]]
    record = {"height": 10, "width": 10, "annotations": [
        {"segmentation": square, "category_id": 0, "iscrowd": 0},
        {"segmentation": [[0.0, 0.0, 4.0, 0.0, 4.0, 4.0, 0.0, 4.0]], "category_id": 2,
         "iscrowd": 0},  # later: on top of the first
        {"segmentation": [[6.0, 6.0, 10.0, 6.0, 10.0, 10.0, 6.0, 10.0]], "category_id": 1,
         "iscrowd": 1},  # crowd: ignored
    ]}
    info = ClassInfo(["background", "a", "b", "c"], 0, "instances")
    m = semantic_map(record, info)
    assert m[5, 5] == 1 and m[3, 3] == 3 and m[8, 8] == IGNORE and m[9, 0] == 0


def test_dataset_without_dense_labels_is_refused():
    from detectron2.data import DatasetCatalog

    name = "probe_test_boxes_only"
    if name not in DatasetCatalog.list():
        DatasetCatalog.register(name, lambda: [{"file_name": "x.jpg", "annotations": [
            {"bbox": [0, 0, 1, 1], "category_id": 0}]}])
    with pytest.raises(ValueError, match="neither instance masks"):
        class_info(name)


def _backbone_pkl(path, drop=()):
    torch.manual_seed(0)
    module = _build(_backbone_cfg(50))
    model = {f"backbone.{k}": v.numpy() for k, v in module.state_dict().items()
             if not any(d in k for d in drop)}
    with open(path, "wb") as f:
        pickle.dump({"model": model, "__author__": "test", "matching_heuristics": False}, f)
    return path


def test_missing_encoder_key_fails_loudly(tmp_path):
    pkl = _backbone_pkl(tmp_path / "bad.pkl", drop=("bottom_up.res4.2.conv2.weight",))
    with pytest.raises(ProbeWeightsError, match="missing encoder"):
        load_probe_backbone(str(pkl))


def test_missing_fpn_output_leaves_that_level_unavailable(tmp_path):
    pkl = _backbone_pkl(tmp_path / "sl.pkl", drop=("fpn_output3", "fpn_output4", "fpn_output5"))
    bb = load_probe_backbone(str(pkl))
    assert "p2" in bb.levels and "p3" not in bb.levels and "fpn_output3" in bb.unavailable["p3"]
    full = load_probe_backbone(str(_backbone_pkl(tmp_path / "full.pkl")))
    ref = load_probe_backbone("random")
    x = torch.randn(1, 3, 64, 64)
    a, b = full.features(x, ["res5", "p2"]), ref.features(x, ["res5", "p2"])
    assert torch.equal(a["res5"], b["res5"]) and torch.equal(a["p2"], b["p2"])  # same seed


def test_pretraining_checkpoint_without_a_teacher_key_fails(tmp_path):
    from tests.helpers import build_instant_model

    model = build_instant_model("slotcon", r50=True)
    state = {k: v for k, v in model.state_dict().items()
             if k != "teacher.backbone.bottom_up.res3.1.conv1.weight"}
    torch.save({"model": state}, tmp_path / "ckpt.pth")
    with pytest.raises(ProbeWeightsError, match="encoder key"):
        load_probe_backbone(str(tmp_path / "ckpt.pth"))
    torch.save({"model": model.state_dict()}, tmp_path / "ok.pth")
    bb = load_probe_backbone(str(tmp_path / "ok.pth"))
    assert bb.levels == ["res2", "res3", "res4", "res5"] and "p2" in bb.unavailable
    teacher = model.teacher.backbone.eval()
    x = torch.randn(1, 3, 64, 64)
    assert torch.allclose(bb.features(x, ["res5"])["res5"], teacher(x)["res5"], atol=1e-5)


@pytest.mark.slow
def test_cli_writes_json_rows(tmp_path, tmp_datasets_root):
    from decon_d2.probe.__main__ import main
    from tests.helpers import register_synthetic_sem_seg

    register_synthetic_sem_seg("probe_cli_train", tmp_path / "train", n=4, size=64, seed=0)
    register_synthetic_sem_seg("probe_cli_val", tmp_path / "val", n=2, size=64, seed=1)
    out = tmp_path / "probe.json"
    assert main(["--weights", "random", "--weights", "random:1", "--train", "probe_cli_train",
                 "--val", "probe_cli_val", "--size", "64", "--epochs", "1",
                 "--out", str(out)]) == 0
    import json

    doc = json.loads(out.read_text())
    assert [r["weights"] for r in doc["rows"]] == ["random init (seed 0)", "random init (seed 1)"]
    assert all(not math.isnan(r["levels"]["p2"]["mIoU"]) for r in doc["rows"])
    assert np.isclose(sum(1 for _ in doc["classes"]), 3)


def test_training_logits_on_the_cache_equal_the_scoring_logits():
    """Training folds the standardisation into the classifier and samples label pixels;
    scoring standardises whole maps and upsamples: both must give the same logits."""
    from decon_d2.probe.features import extract_features
    from decon_d2.probe.linear import _logits, _on_cached

    images = colour_coded_set(6).images
    def forward(x):  # channels of very different offsets and scales
        return {"f": torch.randn(len(x), 5, 4, 4) * torch.arange(1.0, 6.0).view(1, 5, 1, 1)
                + 7 + x[:, :1, ::8, ::8]}

    feats = extract_features(forward, images, ["f"], [0.0] * 3, [1.0] * 3, batch_size=3)["f"]
    feats.fit_standardisation()
    clf = torch.nn.Conv2d(5, 3, 1)
    idx = torch.tensor([4, 0])
    rows, cols = torch.randint(0, 32, (2, 50)), torch.randint(0, 32, (2, 50))
    w, b = _on_cached(clf, feats)
    got = sampled_logits(w, b, feats.maps, idx, rows, cols, (32, 32))
    full = _logits(clf, feats, idx, (32, 32))
    ref = full[torch.arange(2)[:, None], :, rows, cols].permute(0, 2, 1)
    assert torch.allclose(got, ref, atol=1e-4), (got - ref).abs().max()


@pytest.mark.slow
def test_cli_probes_a_set_declared_in_a_config(tmp_path, tmp_datasets_root, capsys):
    """Your own labelled folders, declared in a yaml, are probed by name with --config-file;
    without it the name is refused with the fix in the message."""
    from decon_d2.probe.__main__ import main
    from tests.helpers import write_sem_seg

    write_sem_seg(tmp_path / "img", tmp_path / "lbl", 4, num_classes=3)
    cfg = tmp_path / "mine.yaml"
    cfg.write_text(
        "DATASETS:\n  DECON:\n    SEM_SEG:\n      probe_mine:\n"
        f"        IMAGES: '{tmp_path / 'img'}'\n        LABELS: '{tmp_path / 'lbl'}'\n"
        "        CLASSES: ['background', 'a', 'b']\n")
    args = ["--weights", "random", "--train", "probe_mine", "--val", "probe_mine", "--size", "64",
            "--epochs", "1", "--levels", "res5"]
    out = tmp_path / "probe.json"
    assert main(args + ["--config-file", str(cfg), "--out", str(out)]) == 0
    assert out.is_file()
    from detectron2.data import DatasetCatalog

    DatasetCatalog.remove("probe_mine")
    assert main(args) == 1
    assert "not registered" in capsys.readouterr().err


def test_densecl_checkpoint_probes_the_exported_student(tmp_path):
    """DenseCL exports its student (query) encoder; the probe follows the checkpoint's
    export_branch unless told otherwise."""
    from decon_d2.engine.checkpoint import DeConMeta
    from tests.helpers import build_instant_model, instant_test_cfg

    model = build_instant_model("densecl", r50=True)
    with torch.no_grad():  # student != teacher
        for p in model.student.backbone.parameters():
            p.mul_(1.5)
    meta = DeConMeta(instant_test_cfg("densecl", r50=True), model, lambda: 1).state_dict()
    assert meta["export_branch"] == "student"
    torch.save({"model": model.state_dict(), "decon_meta": meta}, tmp_path / "densecl.pth")
    x = torch.randn(1, 3, 64, 64)
    bb = load_probe_backbone(str(tmp_path / "densecl.pth"))
    student = model.student.backbone.eval()(x)["res5"]
    teacher = model.teacher.backbone.eval()(x)["res5"]
    assert not torch.allclose(student, teacher, atol=1e-3)
    assert torch.allclose(bb.features(x, ["res5"])["res5"], student, atol=1e-5)
    assert "(student)" in bb.label
    forced = load_probe_backbone(str(tmp_path / "densecl.pth"), branch="teacher")
    assert torch.allclose(forced.features(x, ["res5"])["res5"], teacher, atol=1e-5)
