"""The learning study's ResNet-18 recipe (configs/study/small/) converts like ResNet-50: a real
pre-training run of a few iterations, converted for its Semantic FPN and for the built-in target,
reproduces the teacher's features in stock Detectron2 (basic-block names res*.*.conv1/conv2 and
the 128-channel FPN read off the tensors)."""
import json
import pickle

import pytest
import torch
from detectron2.checkpoint import DetectionCheckpointer
from detectron2.modeling import build_model
from detectron2.utils.env import seed_all_rng

from decon_d2.config import build_cfg
from decon_d2.convert.__main__ import main as convert
from decon_d2.engine import PretrainTrainer
from tools.paths import REPO_ROOT, config_path
from decon_d2.weights import fpn_channels, resnet_depth

STUDY = "study/small/decon_ml_study_r18.yaml"
FT = "study/small/semantic_R_18_FPN_study.yaml"
TINY = ["DATASETS.TRAIN", ("decon_demo_unlabeled",), "SOLVER.IMS_PER_BATCH", 2,
        "INPUT.DECON.CROP_SIZE", 64, "SOLVER.DECON.EPOCHS", 0, "SOLVER.MAX_ITER", 3,
        "SOLVER.WARMUP_ITERS", 1, "DATALOADER.NUM_WORKERS", 0, "TEST.DECON.PROBE_PERIOD", 0,
        "MODEL.DECON.SLOTCON.NUM_PROTOTYPES", 8, "MODEL.DECON.SLOTCON.PROJ_HIDDEN_DIM", 32,
        "MODEL.DECON.SLOTCON.PRED_HIDDEN_DIM", 32, "MODEL.DECON.SLOTCON.PROJ_OUT_DIM", 16]


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    """(folder, trainer) of a 3-iteration DeCon-ML run of the ResNet-18 study recipe."""
    out = tmp_path_factory.mktemp("r18")
    cfg = build_cfg(config_path(STUDY), [*TINY, "OUTPUT_DIR", str(out)])
    seed_all_rng(0)
    trainer = PretrainTrainer(cfg)
    trainer.resume_or_load(resume=False)
    trainer.train()
    return out, trainer


def _stock_features(pkl, cfg, rgb):
    """res2..res5 and p2..p5 of the stock Detectron2 segmentor of ``cfg`` loading ``pkl``."""
    model = build_model(cfg).eval()
    DetectionCheckpointer(model).load(str(pkl))
    with torch.no_grad():
        x = (rgb - model.pixel_mean) / model.pixel_std
        feats = dict(model.backbone.bottom_up(x[None]))
        feats.update(model.backbone(x[None]))
    return feats


@pytest.mark.slow
def test_resnet18_study_run_converts_with_matching_features_in_stock_detectron2(run, tmp_path):
    out, trainer = run
    state = torch.load(out / "model_final.pth", weights_only=True)["model"]
    assert resnet_depth(state) == 18 and fpn_channels(state) == 128
    assert "teacher.backbone.bottom_up.res5.1.conv2.weight" in state  # basic blocks
    assert not any(".conv3." in k for k in state)
    pkl = tmp_path / "r18_semfpn.pkl"
    (out / "config.yaml").write_text(trainer.cfg.dump())  # the reference: the whole DeCon model
    assert convert([str(out / "model_final.pth"), str(pkl), "--config", config_path(FT)]) == 0
    report = json.loads(pkl.with_name("r18_semfpn.report.json").read_text())
    v = report["verification"]
    assert v["passed"] and v["max"] <= 1e-4 and v["reference"].startswith("DeCon model")
    assert set(v["max_abs_diff"]) == {"res2", "res3", "res4", "res5", "p2", "p3", "p4", "p5"}
    with open(pkl, "rb") as f:
        converted = pickle.load(f)["model"]
    assert converted["backbone.bottom_up.res2.0.conv2.weight"].shape == (64, 64, 3, 3)
    assert converted["backbone.fpn_output2.weight"].shape == (128, 128, 3, 3)

    # independently of the converter's own check: stock Detectron2 vs the teacher, eval mode
    ft_cfg = build_cfg(config_path(FT), ["MODEL.WEIGHTS", str(pkl)])
    rgb = torch.rand(3, 96, 128) * 255
    stock = _stock_features(pkl, ft_cfg, rgb)
    teacher = trainer.model.teacher.backbone.eval()
    mean = trainer.model.pixel_mean.view(-1, 1, 1)
    std = trainer.model.pixel_std.view(-1, 1, 1)
    with torch.no_grad():
        ours = teacher(((rgb - mean) / std)[None])
    for level in ("res2", "res3", "res4", "res5", "p2", "p3", "p4", "p5"):
        diff = (stock[level] - ours[level]).abs().max().item()
        assert diff <= 1e-4, (level, diff)


@pytest.mark.slow
def test_resnet18_converts_to_the_builtin_target_without_a_config(run, tmp_path):
    """No --config and no config.yaml: the target and the reference take depth 18 and the FPN
    width from the tensors (a ResNet-50 target would not take a single res* tensor)."""
    out, _ = run
    (out / "config.yaml").unlink(missing_ok=True)
    pkl = tmp_path / "r18_maskrcnn.pkl"
    assert convert([str(out / "model_final.pth"), str(pkl)]) == 0
    v = json.loads(pkl.with_name("r18_maskrcnn.report.json").read_text())["verification"]
    assert v["passed"] and v["reference"].startswith("DeCon DeConFPN")
    c4 = tmp_path / "r18_c4.pkl"
    assert convert([str(out / "model_final.pth"), str(c4), "--target", "c4"]) == 1
    assert not c4.exists()


def test_a_config_of_another_depth_is_refused_with_the_fix(run, tmp_path, capsys):
    out, _ = run
    r50 = REPO_ROOT / "configs" / "finetune" / "demo" / "semantic_R_50_FPN_demo.yaml"
    assert convert([str(out / "model_final.pth"), str(tmp_path / "x.pkl"),
                    "--config", str(r50)]) == 1
    err = capsys.readouterr().err
    assert "MODEL.RESNETS.DEPTH: 18" in err and "RES2_OUT_CHANNELS: 64" in err
