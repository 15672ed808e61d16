"""Continual pre-training: a new DeCon run starts student and teacher from MODEL.WEIGHTS of each
accepted layout (tensors compared key by key), reports what starts fresh, and refuses files from
which the encoder would not load or whose input conventions the config does not share."""
import json
import pickle
import re

import pytest
import torch
import torchvision
from detectron2.checkpoint import DetectionCheckpointer
from detectron2.modeling import build_model

from decon_d2.weights import torchvision_to_d2
from decon_d2.convert.__main__ import main as convert
from decon_d2.engine import InitialWeightsError, PretrainTrainer, load_initial_weights
from tests.helpers import build_instant_model, instant_test_cfg

MSRA = ["INPUT.FORMAT", "BGR", "MODEL.PIXEL_MEAN", "[103.53, 116.28, 123.675]",
        "MODEL.PIXEL_STD", "[1.0, 1.0, 1.0]", "MODEL.RESNETS.STRIDE_IN_1X1", "True"]


@pytest.fixture(scope="module")
def tv_file(tmp_path_factory):
    """A torchvision ResNet-50 state dict with non-trivial BN statistics."""
    torch.manual_seed(0)
    state = torchvision.models.resnet50(weights=None).state_dict()
    for k, v in state.items():
        if k.endswith(("running_mean", "running_var")):
            v.copy_(torch.rand(v.shape) + 0.5)
    path = tmp_path_factory.mktemp("weights") / "resnet50_tv.pth"
    torch.save(state, path)
    return path, state


def _load(variant, weights, *opts, r50=True):
    cfg = instant_test_cfg(variant, "MODEL.WEIGHTS", str(weights), *opts, r50=r50)
    torch.manual_seed(1)
    model = build_model(cfg)
    return model, load_initial_weights(model, cfg)


def _assert_encoder_equals(model, tv_state):
    sd, n = model.state_dict(), 0
    for key, value in tv_state.items():
        d2 = torchvision_to_d2(key)
        if d2 is None:
            continue
        for branch in ("student", "teacher"):
            assert torch.equal(sd[f"{branch}.backbone.bottom_up.{d2}"], value), (branch, key)
            n += 1
    assert n == 2 * 318  # every ResNet-50 tensor, in both networks


def test_torchvision_weights_load_every_encoder_key_into_student_and_teacher(tv_file):
    path, tv_state = tv_file
    model, report = _load("decon_ml", path)
    _assert_encoder_equals(model, tv_state)
    assert report.layout == "torchvision" and report.num_loaded == 318
    assert set(report.dropped) == {"ImageNet classifier (fc), not part of the detection backbone"}
    assert set(report.fresh) == {"fpn_lateral", "fpn_output", "heads.res5", "heads.p2",
                                 "heads.p3", "heads.p4", "heads.p5"}
    assert "fresh    heads.p2" in report.format_table()


def _caffe2_name(key):
    """torchvision -> Caffe2/MSRA blob names (conv1_w, res_conv1_bn_s, res2_0_branch2a_w, ...)."""
    parts = {"weight": "s", "bias": "b"}
    m = re.fullmatch(r"layer(\d)\.(\d+)\.(conv|bn)(\d)\.(\w+)", key)
    if m:
        layer, i, kind, c, p = m.groups()
        stem = f"res{int(layer) + 1}_{i}_branch2{'abc'[int(c) - 1]}"
        return stem + ("_w" if kind == "conv" else f"_bn_{parts[p]}")
    m = re.fullmatch(r"layer(\d)\.(\d+)\.downsample\.(\d)\.(\w+)", key)
    if m:
        layer, i, j, p = m.groups()
        return f"res{int(layer) + 1}_{i}_branch1" + ("_w" if j == "0" else f"_bn_{parts[p]}")
    return {"conv1.weight": "conv1_w", "bn1.weight": "res_conv1_bn_s",
            "bn1.bias": "res_conv1_bn_b", "fc.weight": "fc1000_w", "fc.bias": "fc1000_b"}[key]


def test_caffe2_pkl_loads_only_with_its_conventions(tv_file, tmp_path):
    _, tv_state = tv_file
    blobs = {_caffe2_name(k): v.numpy() for k, v in tv_state.items()
             if not k.endswith(("running_mean", "running_var", "num_batches_tracked"))}
    pkl = tmp_path / "R-50.pkl"
    pkl.write_bytes(pickle.dumps(blobs))  # as Detectron2's ImageNetPretrained/MSRA files
    with pytest.raises(InitialWeightsError) as err:
        _load("decon_sl", pkl)
    for fix in ('set INPUT.FORMAT: "BGR"', "set MODEL.PIXEL_STD: [1.0, 1.0, 1.0]",
                "set MODEL.RESNETS.STRIDE_IN_1X1: True"):
        assert fix in str(err.value)
    model, report = _load("decon_sl", pkl, *MSRA)
    sd = model.state_dict()
    for key in ("layer3.4.conv2.weight", "layer2.0.downsample.1.bias", "bn1.weight"):
        for branch in ("student", "teacher"):
            name = f"{branch}.backbone.bottom_up.{torchvision_to_d2(key)}"
            assert torch.equal(sd[name], tv_state[key])
    assert "norm statistics not in the file" in report.warnings[0]
    assert "res2 norm statistics" in report.fresh


def test_decon_checkpoint_continues_from_its_teacher(tmp_path):
    source = build_instant_model("decon_ml", seed=3)
    with torch.no_grad():
        for p in source.teacher.parameters():
            p.add_(1.0)  # teacher != student, so the branch that loads is visible
    DetectionCheckpointer(source, str(tmp_path)).save("model_final", iteration=5)
    src = source.state_dict()
    model, report = _load("decon_sl", tmp_path / "model_final.pth",
                          "MODEL.DECON.SLOTCON.PROJ_OUT_DIM", 24, r50=False)
    sd = model.state_dict()
    for key in ("backbone.bottom_up.res3.1.conv1.weight", "backbone.fpn_lateral2.weight",
                "backbone.fpn_output2.norm.running_var"):
        assert torch.equal(sd[f"student.{key}"], src[f"teacher.{key}"]), key
        assert torch.equal(sd[f"teacher.{key}"], src[f"teacher.{key}"]), key
    # the heads' output width changed (16 -> 24): they start fresh, with the reason
    assert "heads.res5" in report.fresh and "heads.p2" in report.fresh
    assert any("another shape" in r for r in report.dropped)
    assert any("does not build" in r for r in report.dropped)  # fpn_output3..5 of decon_ml
    model, report = _load("decon_sl", tmp_path / "model_final.pth", r50=False)
    sd = model.state_dict()
    assert torch.equal(sd["student.heads.p2.prototypes.weight"],
                       src["teacher.heads.p2.prototypes.weight"])
    assert torch.equal(sd["student.heads.res5.predictor.mlp.0.weight"],
                       src["student.heads.res5.predictor.mlp.0.weight"])  # student-only
    assert not [g for g in report.fresh if g.startswith("heads.")]


def test_converted_pkl_and_authors_checkpoint_load_encoder_and_fpn(tv_file, tmp_path):
    source = build_instant_model("decon_ml", r50=True, seed=4)
    DetectionCheckpointer(source, str(tmp_path)).save("pre", iteration=1)
    assert convert([str(tmp_path / "pre.pth"), str(tmp_path / "pre.pkl"), "--no-verify"]) == 0
    model, report = _load("decon_ml", tmp_path / "pre.pkl")
    sd, src = model.state_dict(), source.state_dict()
    for key in ("backbone.bottom_up.stem.conv1.weight", "backbone.fpn_output5.weight"):
        assert torch.equal(sd[f"teacher.{key}"], src[f"teacher.{key}"])
    assert {"fpn_lateral", "fpn_output"} <= set(report.loaded_keys)

    _, tv_state = tv_file
    body = {k: v for k, v in tv_state.items() if not k.startswith("fc.")}
    fpn = {k[len("student.backbone."):]: v for k, v in src.items()
           if k.startswith("student.backbone.fpn_")}
    authors = {"model": {
        **{f"module.encoder_k.{k}": v for k, v in body.items()},
        **{f"module.encoder_q.{k}": v + 1 for k, v in body.items()},
        **{f"module.decoder_k.{k}": v for k, v in fpn.items()},
        "module.projector_k.mlp.0.weight": torch.zeros(8, 2048, 1, 1),
        "module.grouping_k.slot_embed.weight": torch.zeros(4, 8)}, "epoch": 3}
    torch.save(authors, tmp_path / "current.pth")
    model, report = _load("decon_ml", tmp_path / "current.pth")
    _assert_encoder_equals(model, body)  # encoder_k, the teacher
    assert torch.equal(model.state_dict()["student.backbone.fpn_lateral3.weight"],
                       fpn["fpn_lateral3.weight"])
    assert any("authors' head names are not mapped" in r for r in report.dropped)
    assert any(r.startswith("other branch (student)") for r in report.dropped)


def test_files_the_encoder_cannot_start_from_are_errors(tv_file, tmp_path):
    torch.save({"classifier.weight": torch.zeros(3, 3)}, tmp_path / "other.pth")
    with pytest.raises(InitialWeightsError, match="no encoder key loads from .*other.pth"):
        _load("slotcon", tmp_path / "other.pth", r50=False)
    with pytest.raises(InitialWeightsError, match=r"shape mismatch\(es\) \(MODEL.RESNETS.DEPTH 18"):
        _load("slotcon", tv_file[0], r50=False)  # ResNet-50 weights, ResNet-18 config


@pytest.mark.slow
def test_trainer_starts_a_new_run_from_weights_and_writes_the_report(tv_file, tmp_path):
    path, tv_state = tv_file
    cfg = instant_test_cfg("decon_sl", "MODEL.WEIGHTS", str(path), r50=True, output_dir=tmp_path)
    trainer = PretrainTrainer(cfg)
    trainer.resume_or_load(resume=False)
    assert trainer.start_iter == 0
    _assert_encoder_equals(trainer.model, tv_state)
    written = json.loads((tmp_path / "initial_weights.json").read_text())
    assert written["num_loaded"] == 318 and written["layout"] == "torchvision"
    assert "fpn_lateral" in written["fresh"]


def test_fcn_checkpoint_continues_with_its_fcn_decoder(tmp_path):
    """The FCN decoder, which the converter names ``sem_seg_head.convs``, loads back into the
    pre-training ``backbone.fcn.convs`` (the reverse of the converter's name map)."""
    source = build_instant_model("decon_fcn", seed=3)
    with torch.no_grad():
        for p in source.teacher.parameters():
            p.add_(1.0)
    DetectionCheckpointer(source, str(tmp_path)).save("model_final", iteration=5)
    src = source.state_dict()
    model, report = _load("decon_fcn", tmp_path / "model_final.pth", r50=False)
    sd = model.state_dict()
    fcn = [k for k in src if k.startswith("teacher.backbone.fcn.convs.")]
    assert fcn, sorted(src)[:5]
    for key in fcn + ["teacher.backbone.bottom_up.res4.0.conv1.weight"]:
        rest = key[len("teacher."):]
        assert torch.equal(sd["student." + rest], src[key]), key
        assert torch.equal(sd["teacher." + rest], src[key]), key


def test_densecl_checkpoint_continues_from_its_exported_student_with_fresh_queues(tmp_path):
    """DenseCL checkpoints record export_branch "student": continual pre-training starts from
    it unless INIT_BRANCH says otherwise; the old queues are dropped, with the reason."""
    from decon_d2.engine.checkpoint import DeConMeta

    source = build_instant_model("densecl", seed=3)
    with torch.no_grad():
        for p in source.student.parameters():
            p.add_(1.0)  # student != teacher
    meta = DeConMeta(instant_test_cfg("densecl"), source, lambda: 5).state_dict()
    DetectionCheckpointer(source, str(tmp_path)).save("model_final", iteration=5, decon_meta=meta)
    src = source.state_dict()
    key = "backbone.bottom_up.res3.0.conv1.weight"
    model, report = _load("densecl", tmp_path / "model_final.pth", r50=False)
    sd = model.state_dict()
    assert report.branch == "student"
    assert torch.equal(sd[f"student.{key}"], src[f"student.{key}"])
    assert torch.equal(sd[f"teacher.{key}"], src[f"student.{key}"])
    queues = [k for k in src if k.startswith("student.heads.") and ".queue" in k]
    assert queues and all(not torch.equal(sd[k], src[k]) for k in queues
                          if not k.endswith("queue_ptr"))
    assert any("queue" in reason for reason in report.dropped)
    model, report = _load("densecl", tmp_path / "model_final.pth",
                          "MODEL.DECON.INIT_BRANCH", "teacher", r50=False)
    assert torch.equal(model.state_dict()[f"student.{key}"], src[f"teacher.{key}"])


def test_weights_converted_for_a_resnet_only_model_load(tmp_path):
    """The FCN segmentor holds the ResNet as ``backbone.res*`` and the decoder as
    ``sem_seg_head.convs``: such a .pkl starts a DeCon-FCN run (and the probe reads it)."""
    from decon_d2.probe import load_probe_backbone

    source = build_instant_model("decon_fcn", seed=3)
    src = {k: v for k, v in source.state_dict().items() if k.startswith("teacher.backbone.")}
    names = {}
    for k in src:
        rest = k[len("teacher.backbone."):]
        if rest.startswith("bottom_up."):
            names[k] = "backbone." + rest[len("bottom_up."):]
        elif rest.startswith("fcn."):
            names[k] = "sem_seg_head." + rest[len("fcn."):]
    model = {names[k]: src[k].numpy() for k in names}
    with open(tmp_path / "fcn_seg.pkl", "wb") as f:
        pickle.dump({"model": model, "__author__": "decon-d2", "matching_heuristics": False}, f)
    loaded, report = _load("decon_fcn", tmp_path / "fcn_seg.pkl", r50=False)
    sd = loaded.state_dict()
    for k in ("teacher.backbone.bottom_up.res4.0.conv1.weight", "teacher.backbone.fcn.convs.0.weight"):
        assert torch.equal(sd["student." + k[len("teacher."):]], src[k]), k
    bb = load_probe_backbone(str(tmp_path / "fcn_seg.pkl"))
    x = torch.randn(1, 3, 64, 64)
    ref = source.teacher.backbone.eval()(x)["res5"]
    assert torch.allclose(bb.features(x, ["res5"])["res5"], ref, atol=1e-5)
