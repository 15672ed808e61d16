"""The README's "your own data" walkthrough end to end, on tiny generated data: a folder of
photos -> continue pre-training from torchvision ResNet-50 weights -> convert -> fine-tune Mask
R-CNN on a COCO-format json -> AP. The test only writes files (photos, a json, weights) and runs
the README's commands with smaller sizes and iteration counts on the command line."""
import json
import os
import subprocess
import sys

import pytest
import torch
import torchvision

from tools.paths import REPO_ROOT
from tests.helpers import write_coco_instances, write_photos

PRETRAIN = "configs/yourdata/decon_ml_continue_imagenet_cpu.yaml"
FINETUNE = "configs/finetune/yourdata/mask_rcnn_R_50_FPN_yourdata_cpu.yaml"
SMALL = ["INPUT.MIN_SIZE_TRAIN", "(96,)", "INPUT.MAX_SIZE_TRAIN", "128",
         "INPUT.MIN_SIZE_TEST", "96", "INPUT.MAX_SIZE_TEST", "128", "DATALOADER.NUM_WORKERS", "0",
         "MODEL.RPN.POST_NMS_TOPK_TEST", "100", "MODEL.ROI_HEADS.BATCH_SIZE_PER_IMAGE", "16"]


def _run(data_root, *cmd):
    env = {**os.environ, "OMP_NUM_THREADS": "1", "DETECTRON2_DATASETS": str(data_root)}
    run = subprocess.run([sys.executable, *map(str, cmd)], cwd=REPO_ROOT, env=env,
                         capture_output=True, text=True, timeout=600)
    assert run.returncode == 0, run.stdout[-3000:] + run.stderr[-3000:]
    return run.stdout + run.stderr


@pytest.mark.slow
def test_photos_to_pretraining_to_conversion_to_finetuned_ap(tmp_path):
    data, out = tmp_path / "datasets", tmp_path / "output"
    write_photos(data / "my_photos" / "field_a", 4)
    write_photos(data / "my_photos" / "field_b", 3, seed=1, ext=".jpg")
    write_coco_instances(data / "my_coco/annotations/train.json", data / "my_coco/images", 4)
    write_coco_instances(data / "my_coco/annotations/val.json", data / "my_coco/images", 2,
                         seed=1, prefix="val")
    torch.manual_seed(0)
    torch.save(torchvision.models.resnet50(weights=None).state_dict(), tmp_path / "r50.pth")

    log = _run(data, "train_net.py", "--config-file", PRETRAIN, "MODEL.WEIGHTS",
               tmp_path / "r50.pth", "SOLVER.MAX_ITER", 2, "DATALOADER.NUM_WORKERS", 0,
               "OUTPUT_DIR", out / "pretrain")
    assert "data set size 7" in log  # both sub-folders, .png and .jpg
    report = json.loads((out / "pretrain" / "initial_weights.json").read_text())
    assert report["num_loaded"] == 318 and report["layout"] == "torchvision"

    pkl = out / "my_decon.pkl"
    _run(data, "-m", "decon_d2.convert", out / "pretrain" / "model_final.pth", pkl,
         "--config", FINETUNE)
    assert json.loads((out / "my_decon.report.json").read_text())["verification"]["passed"]

    log = _run(data, "train_net.py", "--config-file", FINETUNE, "MODEL.WEIGHTS", pkl,
               "MODEL.ROI_HEADS.NUM_CLASSES", 2, "SOLVER.MAX_ITER", 2, "SOLVER.STEPS", "()",
               "SOLVER.WARMUP_ITERS", 1, "OUTPUT_DIR", out / "finetune", *SMALL)
    results = json.loads((out / "finetune/inference/results.json").read_text())["results"]
    for task in ("bbox", "segm"):
        assert set(results["my_coco_val"][task]) == {"AP", "AP50", "AP75", "APs", "APm", "APl"}


SEG_FINETUNE = "configs/finetune/yourdata/semantic_R_50_FPN_yourdata_cpu.yaml"


@pytest.mark.slow
def test_label_folders_to_finetuned_miou(tmp_path, monkeypatch):
    """The semantic half of the walkthrough: image + label-PNG folders declared in the config,
    a DeCon-ML checkpoint converted for Semantic FPN (encoder and FPN transferred), fine-tuned
    and evaluated: mIoU in results.json; a class count or ignore value that contradicts the
    declared classes stops the run before training."""
    from tests.helpers import instant_test_cfg, save_decon_checkpoint, write_sem_seg

    data, out = tmp_path / "datasets", tmp_path / "output"
    for split, n, seed in (("train", 4, 0), ("val", 2, 1)):
        write_sem_seg(data / "my_seg/images" / split, data / "my_seg/labels" / split, n,
                      seed=seed)
    pre = out / "pretrain"
    pre.mkdir(parents=True)

    src = save_decon_checkpoint(instant_test_cfg("decon_ml", r50=True), pre, with_config=True)
    pkl = out / "my_decon.pkl"
    log = _run(data, "-m", "decon_d2.convert", src, pkl, "--config", SEG_FINETUNE)
    report = json.loads((out / "my_decon.report.json").read_text())
    assert report["verification"]["passed"] and "fpn" in report["meta"]["exported"], log[-2000:]

    common = ["MODEL.WEIGHTS", pkl, "SOLVER.MAX_ITER", 2, "DATALOADER.NUM_WORKERS", 0,
              "INPUT.CROP.SIZE", "(65, 65)", "INPUT.MIN_SIZE_TEST", 96, "INPUT.MAX_SIZE_TEST", 128]
    _run(data, "train_net.py", "--config-file", SEG_FINETUNE, *common,
         "OUTPUT_DIR", out / "finetune")
    results = json.loads((out / "finetune/inference/results.json").read_text())["results"]
    assert {"mIoU", "fwIoU", "pACC"} <= set(results["my_seg_val"]["sem_seg"]), results

    env = {**os.environ, "OMP_NUM_THREADS": "1", "DETECTRON2_DATASETS": str(data)}
    run = subprocess.run([sys.executable, "train_net.py", "--config-file", SEG_FINETUNE,
                          *map(str, common), "MODEL.SEM_SEG_HEAD.NUM_CLASSES", "2", "OUTPUT_DIR",
                          str(out / "bad")], cwd=REPO_ROOT, env=env, capture_output=True,
                         text=True, timeout=600)
    assert run.returncode != 0 and "NUM_CLASSES 3" in run.stderr + run.stdout, run.stderr[-2000:]
    assert not (out / "bad" / "metrics.json").exists()  # stopped before training
    # the ignore value goes through the same check (records_check.check_num_classes): in-process
    from decon_d2.config import build_cfg
    from decon_d2.data import register_declared_datasets
    from decon_d2.finetune import FinetuneConfigError
    from decon_d2.finetune.records_check import check_num_classes

    monkeypatch.setenv("DETECTRON2_DATASETS", str(data))
    cfg = build_cfg(str(REPO_ROOT / SEG_FINETUNE), ["MODEL.SEM_SEG_HEAD.IGNORE_VALUE", "0"])
    register_declared_datasets(cfg)
    with pytest.raises(FinetuneConfigError, match="IGNORE_VALUE 255"):
        check_num_classes(cfg)
