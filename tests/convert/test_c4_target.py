"""The C4 target (Faster R-CNN R50-C4 of the VOC protocol): res5 goes into the ROI head, the
pre-trained FPN is left out with the reason, and the converted file reproduces the pre-training
features in stock Detectron2 (the FPN target's check, decon_d2/convert/verify.py)."""
import json
import pickle

import numpy as np
import pytest
import torch

from decon_d2.config import build_cfg
from decon_d2.convert import ConversionError, convert_to_d2
from decon_d2.convert.groups import target_group
from decon_d2.convert.targets import c4_finetune_cfg, target_shapes
from decon_d2.weights import encoder_placement, encoder_relative, has_c4_head, is_encoder_key
from decon_d2.convert.__main__ import main
from decon_d2.convert.c4_target import FPN_DROP_REASON
from decon_d2.convert.verify import verify
from tools.paths import config_path
from decon_d2.weights import read_torch, write_pkl_tmp
from tests.helpers import instant_test_cfg, save_decon_checkpoint

VOC_C4 = "finetune/faster_rcnn_R_50_C4_voc0712_24k_decon.yaml"
ENCODER = {"res2", "res3", "res4", "res5"}
LEFT = {"rpn", "roi_box_head", "roi_res5_extra_norm"}


@pytest.fixture(scope="module")
def checkpoint(tmp_path_factory):
    """Our DeCon-ML on the real ResNet-50 (teacher FPN included), config.yaml beside it."""
    folder = tmp_path_factory.mktemp("decon_ml")
    return save_decon_checkpoint(instant_test_cfg("decon_ml", r50=True), folder, True)


def _state(path):
    return torch.load(path, weights_only=True)["model"]


def test_names_of_the_c4_layout():
    target = target_shapes(c4_finetune_cfg())
    assert has_c4_head(target) and not any(k.startswith("backbone.res5.") for k in target)
    place = encoder_placement(target)
    assert place("res5.0.conv1.weight") == "roi_heads.res5.0.conv1.weight"
    assert place("res4.5.conv3.norm.bias") == "backbone.res4.5.conv3.norm.bias"
    assert is_encoder_key("roi_heads.res5.2.conv3.norm.running_var")
    assert not is_encoder_key("roi_heads.res5.norm.running_var")  # the extra norm
    assert target_group("roi_heads.res5.norm.weight") == "roi_res5_extra_norm"
    assert encoder_relative("roi_heads.res5.1.shortcut.weight") == "res5.1.shortcut.weight"
    # the shipped protocol config builds the same model as the built-in C4 target
    assert target_shapes(build_cfg(config_path(VOC_C4), ["MODEL.WEIGHTS", ""])) == target


def test_decon_checkpoint_converts_to_c4_and_reproduces_its_features(checkpoint, tmp_path):
    out = tmp_path / "c4.pkl"
    assert main([str(checkpoint), str(out), "--target", "c4"]) == 0
    report = json.loads((tmp_path / "c4.report.json").read_text())
    v = report["verification"]
    assert v["passed"] and v["max"] <= 1e-4 and set(v["max_abs_diff"]) == ENCODER
    assert v["reference"].startswith("DeCon model")  # the whole model, from config.yaml
    assert any("C4 target" in n for n in v["notes"])
    assert set(v["missing_after_load"]) == LEFT
    assert report["decoder"] is None and report["meta"]["exported"] == ["encoder"]
    assert len(report["dropped"][FPN_DROP_REASON]) > 0  # the teacher FPN, with the reason
    assert set(report["left_for_finetuning"]) == LEFT
    assert len(report["converted"]["res5"]) == 60
    with open(out, "rb") as f:
        data = pickle.load(f)
    model = data["model"]
    assert data["matching_heuristics"] is False and len(model) == 318
    assert not any(k.startswith(("backbone.res5.", "backbone.bottom_up.", "backbone.fpn_"))
                   for k in model)
    key = "res5.2.conv3.norm.running_var"  # the teacher's tensor, now in the ROI head
    np.testing.assert_array_equal(model["roi_heads." + key],
                                  _state(checkpoint)["teacher.backbone.bottom_up." + key].numpy())


def test_the_shipped_voc_config_takes_the_converted_file(checkpoint, tmp_path):
    """--config with the protocol's config: the same C4 keys, verified (decon_meta reference)."""
    out = tmp_path / "voc.pkl"
    assert main([str(checkpoint), str(out), "--config", config_path(VOC_C4)]) == 0
    v = json.loads((tmp_path / "voc.report.json").read_text())["verification"]
    assert v["passed"] and set(v["max_abs_diff"]) == ENCODER


def test_verification_fails_on_a_wrong_res5_tensor(checkpoint, tmp_path):
    cfg = c4_finetune_cfg()
    state = _state(checkpoint)
    d2, report = convert_to_d2(state, target=target_shapes(cfg),
                               meta=read_torch(str(checkpoint)).record)
    key = "roi_heads.res5.1.conv2.norm.running_var"
    d2[key] = d2[key] * 3
    result = verify(write_pkl_tmp(str(tmp_path / "bad.pkl"), d2, report.record), cfg, report,
                    state)
    assert not result["passed"] and result["max_abs_diff"]["res5"] > 1e-3
    assert max(result["max_abs_diff"][k] for k in ("res2", "res3", "res4")) <= 1e-4


def test_the_fpn_cannot_be_forced_into_c4(checkpoint):
    with pytest.raises(ConversionError, match="--decoder none"):
        convert_to_d2(_state(checkpoint), include_decoder=True,
                      target=target_shapes(c4_finetune_cfg()))
