"""decon_d2.convert: key maps, the three input layouts, failure modes, and a verified round trip
of a real (randomly initialised) DeCon model. CPU only; ~1 min on 2 cores."""
import argparse
import json
import os
import pickle

import numpy as np
import pytest
import torch

from decon_d2.convert import ConversionError, convert_to_d2
from decon_d2.convert.targets import default_finetune_cfg, target_shapes
from decon_d2.weights import BOTTOM_UP, d2_to_torchvision, torchvision_to_d2
from decon_d2.convert.__main__ import main
from decon_d2.conventions import check_conventions
from decon_d2.convert.verify import verify
from tests.helpers import instant_test_cfg, perturb_norm_stats, save_decon_checkpoint


@pytest.fixture(scope="module")
def tv_state():
    import torchvision

    torch.manual_seed(0)
    m = torchvision.models.resnet50(weights=None)
    perturb_norm_stats(m.named_buffers(), m.named_parameters())
    return m.state_dict()


@pytest.fixture(scope="module")
def target():
    return target_shapes(default_finetune_cfg())


def _fpn_state(target, levels=(2, 3, 4, 5), seed=1):
    g = torch.Generator().manual_seed(seed)
    out = {}
    for k, shape in target.items():
        m = k.startswith("backbone.fpn_lateral") or any(
            k.startswith(f"backbone.fpn_output{s}.") for s in levels)
        if not m:
            continue
        name = k[len("backbone."):]
        if name.endswith("running_var"):
            out[name] = torch.rand(shape, generator=g) + 0.5
        elif name.endswith("num_batches_tracked"):
            out[name] = torch.tensor(7)
        else:
            out[name] = torch.randn(shape, generator=g) * 0.05
    return out


def _files(folder):
    return sorted(os.listdir(folder))


# ------------------------------------------------------------------------------- key maps


def test_torchvision_resnet50_maps_completely(tv_state, target):
    body = [k for k in tv_state if not k.startswith("fc.")]
    mapped = {torchvision_to_d2(k) for k in body}
    expected = {k[len(BOTTOM_UP):] for k in target if k.startswith(BOTTOM_UP)}
    assert None not in mapped and mapped == expected and len(body) == len(expected)
    assert all(d2_to_torchvision(torchvision_to_d2(k)) == k for k in body)

    d2, report = convert_to_d2(tv_state)
    assert report.ok and not report.partial and report.num_converted == len(expected) == 318
    assert set(report.dropped) == {"ImageNet classifier (fc), not part of the detection backbone"}
    assert set(report.left_for_finetuning) == {
        "rpn", "roi_box_head", "roi_mask_head",
        "fpn_lateral (not pre-trained)", "fpn_output (not pre-trained)"}
    assert all(isinstance(v, np.ndarray) for v in d2.values())
    np.testing.assert_array_equal(d2["backbone.bottom_up.res3.0.shortcut.norm.running_var"],
                                  tv_state["layer2.0.downsample.1.running_var"].numpy())


def _authors_checkpoint(tv_state, target, deep_supervision):
    """A checkpoint in the authors' layout (docs/method.md §4.1), key set built from that section."""
    body = {k: v for k, v in tv_state.items() if not k.startswith("fc.")}
    levels = (2, 3, 4, 5) if deep_supervision else (2,)
    fpn = _fpn_state(target, levels)
    model = {}
    for t in ("q", "k"):
        model.update({f"module.encoder_{t}.{k}": v for k, v in body.items()})
        model.update({f"module.decoder_{t}.{k}": v for k, v in fpn.items()})
        model[f"module.projector_{t}.mlp.0.weight"] = torch.zeros(8, 2048, 1, 1)
        model[f"module.grouping_{t}.slot_embed.weight"] = torch.zeros(4, 8)
        for i in range(len(levels)) if deep_supervision else [None]:
            s = "" if i is None else f".{i}"
            model[f"module.dec_projector_{t}{s}.mlp.0.weight"] = torch.zeros(8, 256, 1, 1)
            model[f"module.dec_grouping_{t}{s}.slot_embed.weight"] = torch.zeros(4, 8)
    model["module.predictor_slot.mlp.0.weight"] = torch.zeros(8, 8)
    model["module.center"] = torch.zeros(1, 4)
    if deep_supervision:
        for i in range(4):
            model[f"module.dec_predictor_slot.{i}.mlp.0.weight"] = torch.zeros(8, 8)
            model[f"module.center_dec_{i}"] = torch.zeros(1, 4)
    else:
        model["module.dec_predictor_slot.mlp.0.weight"] = torch.zeros(8, 8)
        model["module.center_dec"] = torch.zeros(1, 4)
    return {"model": model, "args": argparse.Namespace(arch="resnet50", use_decoder=True),
            "epoch": 800, "optimizer": {}, "scaler": {}}


def test_authors_layout_converts_and_verifies(tv_state, target, tmp_path):
    ckpt = _authors_checkpoint(tv_state, target, deep_supervision=False)
    src = tmp_path / "current.pth"
    torch.save(ckpt, src)
    out = tmp_path / "decon.pkl"
    assert main([str(src), str(out), "--verify"]) == 0
    report = json.loads((tmp_path / "decon.report.json").read_text())
    assert report["layout"] == "authors" and report["branch"] == "teacher"
    assert report["variant"] == "decon_sl" and report["include_decoder"]
    assert len(report["converted"]["fpn_lateral"]) == 24
    assert len(report["converted"]["fpn_output"]) == 6
    assert len(report["left_for_finetuning"]["fpn_output (not pre-trained)"]) == 18
    assert any(r.startswith("other branch (student)") for r in report["dropped"])
    v = report["verification"]
    assert v["passed"] and set(v["max_abs_diff"]) == {"res2", "res3", "res4", "res5", "p2"}
    with open(out, "rb") as f:
        data = pickle.load(f)
    assert data["__author__"] == "decon-d2" and data["matching_heuristics"] is False
    assert data["decon_meta"]["epoch"] == 800 and data["decon_meta"]["input_format"] == "RGB"
    assert data["decon_meta"]["fpn_outputs_pretrained"] == ["p2"]

    # deep supervision: four output convs, all converted
    _, rep = convert_to_d2(_authors_checkpoint(tv_state, target, True)["model"], branch="student")
    assert rep.variant == "decon_ml" and len(rep.converted["fpn_output"]) == 24
    assert "fpn_output (not pre-trained)" not in rep.left_for_finetuning
    _, rep = convert_to_d2(ckpt["model"], include_decoder=False)
    assert rep.variant == "decon_sl" and "fpn_lateral" not in rep.converted
    assert "FPN decoder not exported (encoder only)" in rep.dropped


# --------------------------------------------------------------------------- failure modes


def _ours_synthetic(tv_state, target, branches=("teacher", "student")):
    """Our layout built from Detectron2 names: {branch}.backbone.* plus head keys."""
    d2 = {torchvision_to_d2(k): v for k, v in tv_state.items() if not k.startswith("fc.")}
    d2 = {"bottom_up." + k: v for k, v in d2.items()}
    d2.update(_fpn_state(target))
    sd = {}
    for b in branches:
        sd.update({f"{b}.backbone.{k}": v for k, v in d2.items()})
        sd[f"{b}.heads.res5.projector.mlp.0.weight"] = torch.zeros(4, 2048, 1, 1)
        sd[f"{b}.heads.res5.prototypes.weight"] = torch.zeros(4, 4)
    sd["student.heads.res5.predictor.mlp.0.weight"] = torch.zeros(4, 4)
    sd["student.heads.res5.center"] = torch.zeros(1, 4)
    return sd


@pytest.mark.parametrize("case", ["zero_matches", "missing_encoder_key", "shape_mismatch",
                                  "unknown_key", "wrong_branch", "config_mismatch"])
def test_failure_exits_nonzero_and_writes_nothing(case, tv_state, target, tmp_path, capsys):
    args = []
    if case == "zero_matches":
        ckpt = {"model": {"head.fc.weight": torch.zeros(2, 2)}}
    elif case == "missing_encoder_key":
        ckpt = {k: v for k, v in tv_state.items() if k != "layer3.2.bn2.running_var"}
    elif case == "shape_mismatch":
        ckpt = dict(tv_state, **{"layer1.0.conv1.weight": torch.zeros(64, 64, 3, 3)})
    elif case == "unknown_key":
        model = dict(_ours_synthetic(tv_state, target), **{"teacher.extra.w": torch.ones(1)})
        ckpt = {"model": model, "iteration": 5}
    elif case == "wrong_branch":
        ckpt = {"model": _ours_synthetic(tv_state, target, ("teacher",)), "iteration": 5}
        args = ["--branch", "student"]
    else:  # config_mismatch: Detectron2's defaults (BGR, caffe2 statistics, stride in 1x1)
        ckpt = tv_state
        cfg = tmp_path / "bgr.yaml"
        cfg.write_text(f'_BASE_: "{_model_zoo_base()}"\nMODEL:\n  MASK_ON: True\n')
        args = ["--config", str(cfg)]
    src = tmp_path / "in.pth"
    torch.save(ckpt, src)
    before = _files(tmp_path)
    assert main([str(src), str(tmp_path / "out.pkl"), *args]) == 1
    assert _files(tmp_path) == before  # no pkl, no report, no temporary file
    err = capsys.readouterr().err
    expected = {"zero_matches": "zero matches", "missing_encoder_key": "layer3.2.bn2.running_var",
                "shape_mismatch": "shape mismatch", "unknown_key": "teacher.extra.w",
                "wrong_branch": "--branch", "config_mismatch": "INPUT.FORMAT: \"RGB\""}[case]
    assert expected in err


def _model_zoo_base():
    from detectron2 import model_zoo

    return model_zoo.get_config_file("Base-RCNN-FPN.yaml")


def test_usage_errors_write_nothing(tv_state, tmp_path):
    src = tmp_path / "weights.pkl"
    torch.save(tv_state, src)
    mtime = os.path.getmtime(src)
    assert main([str(src), str(src)]) == 2  # input == output
    assert os.path.getmtime(src) == mtime
    assert main([str(src), str(tmp_path / "out.pth")]) == 2  # not a .pkl
    assert _files(tmp_path) == ["weights.pkl"]


def test_allow_partial_writes_marked_output(tv_state, tmp_path):
    src = tmp_path / "in.pth"
    torch.save({k: v for k, v in tv_state.items() if not k.startswith("layer4.2.")}, src)
    out = tmp_path / "out.pkl"
    assert main([str(src), str(out), "--allow-partial", "--verify"]) == 0
    with open(out, "rb") as f:
        assert pickle.load(f)["decon_meta"]["partial"] is True
    report = json.loads((tmp_path / "out.report.json").read_text())
    assert report["partial"] and report["errors"] and report["verification"]["passed"]
    assert "encoder (not pre-trained)" in report["left_for_finetuning"]


def test_decoder_requested_but_absent(tv_state):
    with pytest.raises(ConversionError, match="no teacher FPN keys"):
        convert_to_d2(tv_state, include_decoder=True)


def test_verification_catches_stride_and_format_errors(tv_state, tmp_path):
    """Numerical check, independent of the config check: STRIDE_IN_1X1 True changes res3..."""
    from decon_d2.weights import write_pkl_tmp

    d2, report = convert_to_d2(tv_state)
    tmp = write_pkl_tmp(str(tmp_path / "x.pkl"), d2, report.record)
    cfg = default_finetune_cfg(stride_in_1x1=True)
    cfg.INPUT.FORMAT = "BGR"
    errors, _ = check_conventions(cfg, report.record, False)
    assert any("STRIDE_IN_1X1: False" in e for e in errors)
    assert any("INPUT.FORMAT" in e for e in errors)
    result = verify(tmp, cfg, report, tv_state)
    assert not result["passed"] and result["max_abs_diff"]["res2"] > 1e-2


# ------------------------------------------------------------ round trip of the real model


def _decon_cfg(variant):
    return instant_test_cfg(variant, r50=True)


@pytest.mark.parametrize("variant,with_config", [("decon_ml", True), ("decon_sl", False)])
def test_round_trip_real_decon_model_verifies(variant, with_config, tmp_path):
    src = save_decon_checkpoint(_decon_cfg(variant), tmp_path, with_config)
    out = tmp_path / "export" / "decon.pkl"
    out.parent.mkdir()
    assert main([str(src), str(out)]) == 0  # --verify is the default for our checkpoints
    report = json.loads((out.parent / "decon.report.json").read_text())
    v = report["verification"]
    assert v["passed"] and v["max"] <= 1e-4
    assert v["reference"].startswith("DeCon model" if with_config else "DeCon DeConFPN")
    levels = ["p2", "p3", "p4", "p5"] if variant == "decon_ml" else ["p2"]
    assert set(v["max_abs_diff"]) == {"res2", "res3", "res4", "res5", *levels}
    allowed = {"rpn", "roi_box_head", "roi_mask_head", "fpn_output (not pre-trained)"}
    assert set(v["missing_after_load"]) <= allowed
    assert report["variant"] == variant and report["meta"]["iteration"] == 41
    assert not any(k.startswith("student.") for _, pairs in report["converted"].items()
                   for k, _ in pairs)
    with open(out, "rb") as f:
        data = pickle.load(f)
    assert data["matching_heuristics"] is False
    assert set(data["model"]) == {d for pairs in report["converted"].values() for _, d in pairs}
    meta = data["decon_meta"]
    assert meta["branch"] == "teacher" and meta["source_layout"] == "ours"
    # the teacher's tensors, not the student's (their BN statistics differ, see perturb_norm_stats)
    state = torch.load(src, weights_only=True)["model"]
    key = "res3.1.conv2.norm.running_var"
    np.testing.assert_array_equal(data["model"]["backbone.bottom_up." + key],
                                  state["teacher.backbone.bottom_up." + key].numpy())
    assert not torch.equal(state["teacher.backbone.bottom_up." + key],
                           state["student.backbone.bottom_up." + key])
    assert meta["source_sha256"] and meta["source_file"] == "model_final.pth"
