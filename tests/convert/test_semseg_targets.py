"""Conversion into the segmentation models: homogeneous FCN and FPN transfer reproduce the
pre-training features (max |diff| <= 1e-4), heterogeneous pairs export the encoder alone with
the reason in the report, ``--decoder none``, the authors' FCN layout, and a wrong FCN tensor
failing the verification."""
import json
import pickle

import numpy as np
import pytest
import torch

from decon_d2.convert import convert_to_d2
from decon_d2.convert.targets import target_shapes
from decon_d2.weights import is_encoder_key
from decon_d2.convert.__main__ import main
from decon_d2.convert.verify import verify
from decon_d2.config import build_cfg
from tools.paths import config_path
from decon_d2.weights import read_torch, write_pkl_tmp
from tests.helpers import instant_test_cfg, perturb_norm_stats, save_decon_checkpoint

FCN = "finetune/demo/fcn_R_50_D6_demo.yaml"
SEMFPN = "finetune/demo/semantic_R_50_FPN_demo.yaml"
LEFT_FCN_EXPORT = {"sem_seg classifier"}
ENCODER = {"res2", "res3", "res4", "res5"}


@pytest.fixture(scope="module")
def checkpoints(tmp_path_factory):
    """Our DeCon-FCN (with config.yaml: reference = the whole DeCon model) and DeCon-ML (without:
    reference built from decon_meta) checkpoints on the real ResNet-50."""
    out = {}
    for variant, with_config in (("decon_fcn", True), ("decon_ml", False)):
        folder = tmp_path_factory.mktemp(variant)
        out[variant] = save_decon_checkpoint(instant_test_cfg(variant, r50=True), folder,
                                             with_config)
    return out


def _state(path):
    return torch.load(path, weights_only=True)["model"]


def _convert(src, out, cfg_rel, *flags):
    out.parent.mkdir(exist_ok=True)
    assert main([str(src), str(out), "--config", config_path(cfg_rel), *flags]) == 0
    return json.loads(out.with_name(out.stem + ".report.json").read_text())


def test_fcn_round_trip_reproduces_the_fcn_head_output(checkpoints, tmp_path):
    report = _convert(checkpoints["decon_fcn"], tmp_path / "fcn" / "w.pkl", FCN)
    assert report["decoder"] == "fcn" and report["variant"] == "decon_fcn"
    assert len(report["converted"]["fcn_head"]) == 12  # 2 x (weight + 5 norm tensors)
    assert set(report["left_for_finetuning"]) == LEFT_FCN_EXPORT
    v = report["verification"]
    assert v["passed"] and v["max"] <= 1e-4 and set(v["max_abs_diff"]) == ENCODER | {"fcn"}
    assert any("§7.7" in n for n in v["notes"]) and any("RES5_DILATION" in n for n in v["notes"])
    meta = report["meta"]
    assert meta["exported"] == ["encoder", "fcn"] and meta["fcn"]["dilation"] == 6
    with open(tmp_path / "fcn" / "w.pkl", "rb") as f:
        model = pickle.load(f)["model"]
    np.testing.assert_array_equal(  # the teacher's decoder, under the head's name
        model["sem_seg_head.convs.1.norm.running_var"],
        _state(checkpoints["decon_fcn"])["teacher.backbone.fcn.convs.1.norm.running_var"])
    assert "backbone.res2.0.conv1.weight" in model  # the ResNet is the FCN model's backbone


def test_semantic_fpn_round_trip_reproduces_the_fpn_levels(checkpoints, tmp_path):
    report = _convert(checkpoints["decon_ml"], tmp_path / "fpn" / "w.pkl", SEMFPN)
    assert report["decoder"] == "fpn"
    assert set(report["left_for_finetuning"]) == {"sem_seg_head", "sem_seg classifier"}
    v = report["verification"]
    assert v["reference"].startswith("DeCon DeConFPN")  # no config.yaml: built from decon_meta
    assert v["passed"] and v["max"] <= 1e-4
    assert set(v["max_abs_diff"]) == ENCODER | {"p2", "p3", "p4", "p5"}


@pytest.mark.parametrize("variant,target,left", [
    ("decon_ml", FCN, "fcn_head (not pre-trained)"),
    ("decon_fcn", SEMFPN, "fpn_lateral (not pre-trained)"),
])
def test_heterogeneous_decoder_exports_the_encoder_with_the_reason(checkpoints, variant, target,
                                                                   left):
    cfg = build_cfg(config_path(target))
    d2, report = convert_to_d2(_state(checkpoints[variant]), target=target_shapes(cfg))
    assert report.decoder is None and report.meta["exported"] == ["encoder"]
    assert all(is_encoder_key(k) for k in d2) and len(d2) == 318
    reason = next(r for r in report.dropped if "decoder not exported" in r)
    assert "heterogeneous" in reason, reason
    assert left in report.left_for_finetuning


def test_decoder_none_exports_the_encoder_into_the_fcn_model(checkpoints, tmp_path):
    report = _convert(checkpoints["decon_fcn"], tmp_path / "none" / "w.pkl", FCN,
                      "--decoder", "none")
    assert report["decoder"] is None and "FCN head decoder not exported (encoder only)" in \
        report["dropped"]
    assert set(report["left_for_finetuning"]) == {"fcn_head (not pre-trained)",
                                                  "sem_seg classifier"}
    assert report["verification"]["passed"]
    assert set(report["verification"]["max_abs_diff"]) == ENCODER


def test_verification_fails_on_a_wrong_fcn_tensor(checkpoints, tmp_path):
    cfg = build_cfg(config_path(FCN))
    state = _state(checkpoints["decon_fcn"])
    d2, report = convert_to_d2(state, target=target_shapes(cfg),
                               meta=read_torch(str(checkpoints["decon_fcn"])).record)
    d2["sem_seg_head.convs.1.norm.running_var"] = d2["sem_seg_head.convs.1.norm.running_var"] * 2
    tmp = write_pkl_tmp(str(tmp_path / "bad.pkl"), d2, report.record)
    result = verify(tmp, cfg, report, state)
    assert not result["passed"]
    assert result["max_abs_diff"]["fcn"] > 1e-3
    assert max(result["max_abs_diff"][k] for k in ENCODER) <= 1e-4


def test_authors_fcn_checkpoint_converts_and_verifies(tmp_path):
    """The authors' layout (docs/method.md §4.1): ``decoder_k.convs.{i}.{conv,bn}.*`` goes to the
    FCN head and is compared with an independent functional FCN (torchvision ResNet-50)."""
    import torchvision

    torch.manual_seed(0)
    resnet = torchvision.models.resnet50(weights=None)
    perturb_norm_stats(resnet.named_buffers(), resnet.named_parameters())
    body = {k: v for k, v in resnet.state_dict().items() if not k.startswith("fc.")}
    g = torch.Generator().manual_seed(1)
    fcn = {}
    for i, cin in enumerate((2048, 256)):
        fcn[f"convs.{i}.conv.weight"] = torch.randn(256, cin, 3, 3, generator=g) * 0.02
        fcn[f"convs.{i}.bn.weight"] = torch.rand(256, generator=g) + 0.5
        fcn[f"convs.{i}.bn.bias"] = torch.randn(256, generator=g) * 0.1
        fcn[f"convs.{i}.bn.running_mean"] = torch.randn(256, generator=g) * 0.1
        fcn[f"convs.{i}.bn.running_var"] = torch.rand(256, generator=g) + 0.5
        fcn[f"convs.{i}.bn.num_batches_tracked"] = torch.tensor(3)
    model = {}
    for t in ("q", "k"):
        model.update({f"module.encoder_{t}.{k}": v for k, v in body.items()})
        model.update({f"module.decoder_{t}.{k}": v for k, v in fcn.items()})
        model[f"module.projector_{t}.mlp.0.weight"] = torch.zeros(8, 2048, 1, 1)
        model[f"module.dec_projector_{t}.mlp.0.weight"] = torch.zeros(8, 256, 1, 1)
    model["module.center"] = torch.zeros(1, 4)
    src = tmp_path / "current.pth"
    torch.save({"model": model, "epoch": 800}, src)
    report = _convert(src, tmp_path / "out" / "authors.pkl", FCN, "--verify")
    assert report["layout"] == "authors" and report["variant"] == "decon_fcn"
    assert report["decoder"] == "fcn" and len(report["converted"]["fcn_head"]) == 12
    v = report["verification"]
    assert v["reference"].startswith("torchvision") and v["passed"] and v["max"] <= 1e-4
    assert set(v["max_abs_diff"]) == ENCODER | {"fcn"}


def test_nan_features_count_as_a_difference():
    """NaN features (e.g. a negative running variance mapped into place) must fail the check:
    ``nan > tolerance`` is False, so a NaN difference is reported as infinite."""
    from decon_d2.convert.verify import build_finetune_model, compare_features

    cfg = build_cfg(config_path(FCN))
    model = build_finetune_model(cfg)

    def reference(rgb):
        return {"res5": torch.full((1, 2048, 6, 8), float("nan"))}

    cmp = build_cfg(config_path(FCN), ["MODEL.RESNETS.RES5_DILATION", "1"])
    assert compare_features(model, cmp, reference, ["res5"]) == {"res5": float("inf")}


SEG_CONFIGS = [f"finetune/{m}_{d}_decon.yaml" for m, d in (
    ("fcn_R_50_D6", "voc12aug_30k"), ("fcn_R_50_D6", "cityscapes_90k"),
    ("fcn_R_50_D1", "ade20k_80k"), ("semantic_R_50_FPN", "voc12aug_30k"),
    ("semantic_R_50_FPN", "cityscapes_90k"), ("semantic_R_50_FPN", "ade20k_80k"))]


@pytest.mark.parametrize("config", SEG_CONFIGS, ids=lambda c: c.split("/")[1][:-11])
@pytest.mark.parametrize("variant", ["decon_ml", "decon_fcn"])
def test_checkpoints_convert_into_every_segmentation_recipe(checkpoints, variant, config):
    """Names and shapes (the model built on the meta device): the decoder goes where the recipe
    has the same one; the ADE20K FCN head (512 wide) does not take a 256-wide DeCon-FCN decoder
    and says how to transfer the encoder alone."""
    from decon_d2.convert import ConversionError

    target = target_shapes(build_cfg(config_path(config)))
    state = _state(checkpoints[variant])
    if variant == "decon_fcn" and "ade20k" in config and "fcn" in config:
        with pytest.raises(ConversionError, match="--decoder none"):
            convert_to_d2(state, target=target)
        d2, report = convert_to_d2(state, target=target, include_decoder=False)
        assert report.decoder is None
        return
    d2, report = convert_to_d2(state, target=target)
    homogeneous = {"decon_ml": "semantic", "decon_fcn": "fcn"}[variant] in config
    assert report.decoder == ({"decon_ml": "fpn", "decon_fcn": "fcn"}[variant] if homogeneous
                              else None)
    assert set(d2) <= set(target) and all(tuple(d2[k].shape) == target[k] for k in d2)
    assert sum(is_encoder_key(k) for k in d2) == 318
