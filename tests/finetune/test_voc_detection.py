"""VOC detection transfer: Detectron2's builtin VOC sets and evaluator, the VOC-format demo twin
of decon_demo_coco, and the C4 / FPN demo configs fine-tuning 2 iterations on CPU from a
converted DeCon checkpoint, then the evaluation printing VOC AP / AP50 / AP75."""
import json
import os
import subprocess
import sys
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest
import torch
from detectron2.data import DatasetCatalog, MetadataCatalog
from detectron2.evaluation import PascalVOCDetectionEvaluator

from decon_d2.config import build_cfg
from decon_d2.finetune import FinetuneTrainer
from tools.build_data.demo_sets.voc import ensure_demo_voc
from decon_d2.data.demo_layout import VOC as DEMO_VOC

REPO = Path(__file__).resolve().parents[2]
C4_DEMO = "configs/finetune/demo/faster_rcnn_R_50_C4_voc_demo.yaml"
FPN_DEMO = "configs/finetune/demo/faster_rcnn_R_50_FPN_voc_demo.yaml"
SMALL = ["INPUT.MIN_SIZE_TRAIN", "(128,)", "INPUT.MAX_SIZE_TRAIN", "192",
         "INPUT.MIN_SIZE_TEST", "128", "INPUT.MAX_SIZE_TEST", "192", "DATALOADER.NUM_WORKERS", "0",
         "MODEL.RPN.POST_NMS_TOPK_TEST", "20", "MODEL.ROI_HEADS.BATCH_SIZE_PER_IMAGE", "8"]
TWO_ITERATIONS = ["SOLVER.MAX_ITER", "2", "SOLVER.STEPS", "()", "SOLVER.WARMUP_ITERS", "1"]


def test_the_protocol_sets_are_detectron2_builtins_evaluated_as_voc():
    cfg = build_cfg(str(REPO / "configs/finetune/faster_rcnn_R_50_C4_voc0712_24k_decon.yaml"))
    for name in (*cfg.DATASETS.TRAIN, *cfg.DATASETS.TEST):
        assert name in DatasetCatalog.list(), name
        assert MetadataCatalog.get(name).evaluator_type == "pascal_voc"
    evaluator = FinetuneTrainer.build_evaluator(cfg, "voc_2007_test")
    assert isinstance(evaluator, PascalVOCDetectionEvaluator) and evaluator._is_2007


def test_demo_twin_is_a_voc_tree_of_the_demo_boxes(monkeypatch):
    monkeypatch.chdir(REPO)  # $DETECTRON2_DATASETS may be relative, as train_net resolves it
    folder = ensure_demo_voc()
    coco = {Path(r["file_name"]).stem: r for r in DatasetCatalog.get("decon_demo_coco")}
    voc = DatasetCatalog.get(DEMO_VOC)
    ids = (folder / "ImageSets/Main/trainval.txt").read_text().split()
    assert sorted(ids) == sorted(coco) and len(voc) == len(coco)
    assert MetadataCatalog.get(DEMO_VOC).thing_classes == \
        MetadataCatalog.get("decon_demo_coco").thing_classes
    for record in voc:
        src = coco[record["image_id"]]
        assert [a["category_id"] for a in record["annotations"]] == \
            [a["category_id"] for a in src["annotations"]]
        for got, want in zip(record["annotations"], src["annotations"]):
            x, y, w, h = want["bbox"]
            assert max(abs(a - b) for a, b in zip(got["bbox"], (x, y, x + w, y + h))) <= 1.0
    tree = ET.parse(folder / "Annotations" / f"{ids[0]}.xml")  # what the evaluator parses
    assert {e.tag for e in tree.find("object")} >= {"name", "difficult", "truncated", "bndbox"}


@pytest.fixture(scope="module")
def converted(tmp_path_factory):
    """A randomly initialised DeCon-ML demo checkpoint (ResNet-50 + FPN), converted for the C4
    and for the FPN demo config."""
    from detectron2.checkpoint import DetectionCheckpointer
    from detectron2.modeling import build_model

    from decon_d2.convert.__main__ import main as convert

    folder = tmp_path_factory.mktemp("pretrain")
    cfg = build_cfg(str(REPO / "configs/demo/decon_ml_demo.yaml"))
    torch.manual_seed(0)
    meta = {"variant": "decon_ml", "input_format": "RGB", "pixel_mean": list(cfg.MODEL.PIXEL_MEAN),
            "pixel_std": list(cfg.MODEL.PIXEL_STD), "stride_in_1x1": False, "norm": "SyncBN",
            "fpn_norm": "SyncBN", "iteration": 7}
    DetectionCheckpointer(build_model(cfg), str(folder)).save("model_final", iteration=7,
                                                              decon_meta=meta)
    out = {}
    for name, config in (("c4", C4_DEMO), ("fpn", FPN_DEMO)):
        out[name] = folder / f"{name}.pkl"
        assert convert([str(folder / "model_final.pth"), str(out[name]), "--config",
                        str(REPO / config), "--no-verify"]) == 0
    return out


def _train_net(*args):
    run = subprocess.run([sys.executable, "train_net.py", *args], cwd=REPO, capture_output=True,
                         text=True, env={**os.environ, "OMP_NUM_THREADS": "1"}, timeout=600)
    assert run.returncode == 0, run.stdout[-3000:] + run.stderr[-3000:]
    return run.stdout + run.stderr


def _voc_ap(folder):
    ap = json.loads((folder / "inference" / "results.json").read_text())["results"][DEMO_VOC]
    assert set(ap) == {"bbox"} and set(ap["bbox"]) == {"AP", "AP50", "AP75"}, ap
    assert all(v is None or 0.0 <= v <= 100.0 for v in ap["bbox"].values()), ap
    return ap["bbox"]


@pytest.mark.slow
def test_c4_demo_fine_tunes_two_iterations_and_prints_voc_ap(converted, tmp_path):
    """One run: training, then the final evaluation (``--eval-only`` on a fine-tuned checkpoint
    is tests/finetune/test_finetune.py's; it is the same evaluator either way)."""
    log = _train_net("--config-file", C4_DEMO, "MODEL.WEIGHTS", str(converted["c4"]),
                     "OUTPUT_DIR", str(tmp_path), *TWO_ITERATIONS, *SMALL)
    assert "Starting training from iteration 0" in log
    missing = log.split("Some model parameters or buffers are not found")[-1]
    assert "backbone.res" not in missing and "roi_heads.res5.0" not in missing  # loaded by name
    assert (tmp_path / "model_final.pth").is_file()
    assert "Evaluating decon_demo_voc using 2007 metric" in log  # PascalVOCDetectionEvaluator
    assert "copypaste: AP,AP50,AP75" in log
    _voc_ap(tmp_path)


@pytest.mark.slow
def test_fpn_demo_fine_tunes_two_iterations_and_evaluates_voc_ap(converted, tmp_path):
    log = _train_net("--config-file", FPN_DEMO, "MODEL.WEIGHTS", str(converted["fpn"]),
                     "OUTPUT_DIR", str(tmp_path), *TWO_ITERATIONS, *SMALL)
    missing = log.split("Some model parameters or buffers are not found")[-1]
    assert "backbone.fpn_lateral" not in missing  # the pre-trained FPN loaded by name
    assert "copypaste: AP,AP50,AP75" in log
    _voc_ap(tmp_path)
