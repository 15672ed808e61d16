"""Segmentation fine-tuning: 2-iteration FCN and Semantic FPN runs from converted DeCon weights
through ``train_net.main`` with evaluation (mIoU in results.json), the decoder-transfer key, the
pre-flight fit check and the poly schedule."""
import importlib.util
import json
from argparse import Namespace

import pytest
import torch
from detectron2.checkpoint import DetectionCheckpointer

from decon_d2.convert.__main__ import main as convert
from decon_d2.config import build_cfg
from decon_d2.finetune import FinetuneConfigError, SemSegTrainer, check_finetune_setup
from tools.paths import REPO_ROOT, config_path
from tests.helpers import instant_test_cfg, save_decon_checkpoint

FCN = "finetune/demo/fcn_R_50_D6_demo.yaml"
SEMFPN = "finetune/demo/semantic_R_50_FPN_demo.yaml"
SMALL = ["SOLVER.MAX_ITER", "2", "DATALOADER.NUM_WORKERS", "0", "INPUT.MIN_SIZE_TRAIN",
         "(96, 128)", "INPUT.MAX_SIZE_TRAIN", "256", "INPUT.CROP.SIZE", "(97, 97)",
         "INPUT.MIN_SIZE_TEST", "128", "INPUT.MAX_SIZE_TEST", "192"]


def _train_net():
    spec = importlib.util.spec_from_file_location("train_net", REPO_ROOT / "train_net.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def weights(tmp_path_factory):
    """Converted (unverified: test_convert_semseg verifies) DeCon-FCN -> FCN and DeCon-ML ->
    Semantic FPN weights."""
    out = {}
    for variant, target in (("decon_fcn", FCN), ("decon_ml", SEMFPN)):
        folder = tmp_path_factory.mktemp(variant)
        src = save_decon_checkpoint(instant_test_cfg(variant, r50=True), folder, False)
        out[variant] = folder / "w.pkl"
        assert convert([str(src), str(out[variant]), "--config", config_path(target),
                        "--no-verify"]) == 0
    return out


def _loaded(pkl):
    with open(pkl, "rb") as f:
        import pickle

        return {k: torch.as_tensor(v) for k, v in pickle.load(f)["model"].items()}


@pytest.mark.parametrize("variant,cfg,decoder,transfer", [
    ("decon_fcn", FCN, "sem_seg_head.convs.0.weight", "pretrained"),
    ("decon_ml", SEMFPN, "backbone.fpn_lateral2.weight", "random"),
])
def test_two_iteration_finetune_reports_miou(weights, tmp_path, variant, cfg, decoder, transfer):
    opts = ["MODEL.WEIGHTS", str(weights[variant]), "MODEL.TRANSFER.DECODER", transfer,
            "OUTPUT_DIR", str(tmp_path), *SMALL]
    # what the run loads: the encoder always, the decoder only with "pretrained"
    trainer = SemSegTrainer(build_cfg(config_path(cfg), opts))
    trainer.resume_or_load(resume=False)
    state, pkl = trainer.model.state_dict(), _loaded(weights[variant])
    assert torch.equal(state["backbone.res2.0.conv1.weight" if variant == "decon_fcn" else
                             "backbone.bottom_up.res2.0.conv1.weight"],
                       pkl["backbone.res2.0.conv1.weight" if variant == "decon_fcn" else
                           "backbone.bottom_up.res2.0.conv1.weight"])
    assert torch.equal(state[decoder], pkl[decoder]) == (transfer == "pretrained")
    del trainer

    args = Namespace(config_file=config_path(cfg), opts=opts, eval_only=False, resume=False,
                     num_gpus=1, num_machines=1, machine_rank=0, dist_url="auto")
    _train_net().main(args)
    results = json.loads((tmp_path / "inference" / "results.json").read_text())
    sem_seg = results["results"]["decon_demo_sem_seg"]["sem_seg"]
    assert set(sem_seg) == {"mIoU", "fwIoU", "mACC", "pACC"}
    assert all(0.0 <= v <= 100.0 for v in sem_seg.values()), sem_seg
    assert results["weights"] == str(weights[variant])
    assert (tmp_path / "model_final.pth").is_file()


def test_preflight_rejects_weights_converted_for_another_model(weights):
    cfg = build_cfg(config_path(FCN), ["MODEL.WEIGHTS", str(weights["decon_ml"])])
    with pytest.raises(FinetuneConfigError, match="--config <this config>"):
        check_finetune_setup(cfg)
    bad = build_cfg(config_path(FCN), ["MODEL.WEIGHTS", "", "MODEL.TRANSFER.DECODER", "fresh"])
    with pytest.raises(FinetuneConfigError, match="MODEL.TRANSFER.DECODER"):
        check_finetune_setup(bad)
    assert check_finetune_setup(build_cfg(config_path(FCN), ["MODEL.WEIGHTS",
                                                             str(weights["decon_fcn"])])) == []


def test_poly_schedule_follows_the_formula():
    cfg = build_cfg(config_path("finetune/fcn_R_50_D1_ade20k_80k_decon.yaml"),
                    ["SOLVER.MAX_ITER", "100"])
    opt = torch.optim.SGD([torch.nn.Parameter(torch.zeros(1))], lr=cfg.SOLVER.BASE_LR)
    sched = SemSegTrainer.build_lr_scheduler(cfg, opt)  # LR_SCHEDULER_NAME "WarmupPolyLR"
    lrs = []
    for _ in range(100):
        lrs.append(opt.param_groups[0]["lr"])
        opt.step()
        sched.step()
    for it in (0, 1, 50, 99):
        want = 1e-4 + (0.01 - 1e-4) * (1 - it / 100) ** 0.9
        assert lrs[it] == pytest.approx(want, rel=1e-6), it


def test_semseg_configs_choose_the_segmentation_trainer():
    trainer_class = _train_net().trainer_class
    assert trainer_class(build_cfg(config_path(FCN))) is SemSegTrainer
    assert trainer_class(build_cfg(config_path(SEMFPN))) is SemSegTrainer
    from decon_d2.finetune import FinetuneTrainer

    det = build_cfg(config_path("finetune/mask_rcnn_R_50_FPN_1x_decon.yaml"))
    assert trainer_class(det) is FinetuneTrainer


def test_fine_tuned_checkpoint_holds_the_whole_model(weights, tmp_path):
    """The decoder-transfer key applies to MODEL.WEIGHTS only: --resume and --eval-only load
    everything (the fine-tuned head and classifier included)."""
    cfg = build_cfg(config_path(FCN), ["MODEL.WEIGHTS", str(weights["decon_fcn"]),
                                       "MODEL.TRANSFER.DECODER", "random", "OUTPUT_DIR",
                                       str(tmp_path), *SMALL])
    trainer = SemSegTrainer(cfg)
    trainer.resume_or_load(resume=False)
    trainer.checkpointer.save("model_final")
    fresh = SemSegTrainer(cfg)
    fresh.resume_or_load(resume=True)
    assert all(torch.equal(a, b) for a, b in zip(trainer.model.state_dict().values(),
                                                 fresh.model.state_dict().values()))
    model = SemSegTrainer.build_model(cfg)
    DetectionCheckpointer(model).load(str(tmp_path / "model_final.pth"))
    assert torch.equal(model.state_dict()["sem_seg_head.convs.0.weight"],
                       trainer.model.state_dict()["sem_seg_head.convs.0.weight"])
