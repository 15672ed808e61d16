"""Fine-tuning converted checkpoints: pre-flight checks, limited data, a real 2-iteration
fine-tune of Mask R-CNN R50-FPN from a converted DeCon checkpoint, and ``--eval-only`` AP."""
import json
import math
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from decon_d2.config import build_cfg
from decon_d2.finetune import FinetuneConfigError, check_finetune_setup, subset_records
from tests.helpers.train_net import run_train_net

REPO = Path(__file__).resolve().parents[2]
DEMO_CFG = "configs/finetune/demo/mask_rcnn_R_50_FPN_demo.yaml"
SMALL = ["INPUT.MIN_SIZE_TRAIN", "(128,)", "INPUT.MAX_SIZE_TRAIN", "192",
         "INPUT.MIN_SIZE_TEST", "128", "INPUT.MAX_SIZE_TEST", "192", "DATALOADER.NUM_WORKERS", "0",
         "MODEL.RPN.POST_NMS_TOPK_TEST", "100", "MODEL.ROI_HEADS.BATCH_SIZE_PER_IMAGE", "16"]


@pytest.fixture(scope="module")
def converted(tmp_path_factory):
    """A randomly initialised DeCon-ML (small heads) saved by DetectionCheckpointer, converted."""
    from detectron2.checkpoint import DetectionCheckpointer
    from detectron2.modeling import build_model

    from decon_d2.convert.__main__ import main as convert

    folder = tmp_path_factory.mktemp("pretrain")
    cfg = build_cfg(str(REPO / "configs/demo/decon_ml_demo.yaml"))
    torch.manual_seed(0)
    model = build_model(cfg)
    meta = {"variant": "decon_ml", "input_format": "RGB", "pixel_mean": list(cfg.MODEL.PIXEL_MEAN),
            "pixel_std": list(cfg.MODEL.PIXEL_STD), "stride_in_1x1": False, "norm": "SyncBN",
            "fpn_norm": "SyncBN", "iteration": 7}
    DetectionCheckpointer(model, str(folder)).save("model_final", iteration=7, decon_meta=meta)
    pkl = folder / "decon.pkl"
    assert convert([str(folder / "model_final.pth"), str(pkl), "--no-verify"]) == 0
    return pkl


def _train_net(*args, check=True):
    run = subprocess.run([sys.executable, "train_net.py", *args], cwd=REPO, capture_output=True,
                         text=True, env={**os.environ, "OMP_NUM_THREADS": "1"}, timeout=600)
    if check and run.returncode != 0:
        raise AssertionError(run.stdout[-3000:] + run.stderr[-3000:])
    return run


def _finetune_cfg(*opts):
    return build_cfg(str(REPO / DEMO_CFG), list(opts))


def test_placeholder_weights_fail_with_instructions():
    with pytest.raises(FinetuneConfigError, match="decon_d2.convert"):
        check_finetune_setup(_finetune_cfg())


def test_missing_weights_file_is_named(tmp_path):
    with pytest.raises(FinetuneConfigError, match=str(tmp_path / "nope.pkl")):
        check_finetune_setup(_finetune_cfg("MODEL.WEIGHTS", str(tmp_path / "nope.pkl")))


def test_conventions_and_freeze_at_are_checked(converted):
    assert check_finetune_setup(_finetune_cfg("MODEL.WEIGHTS", str(converted))) == []
    bad = _finetune_cfg("MODEL.WEIGHTS", str(converted), "MODEL.PIXEL_STD", "[1.0, 1.0, 1.0]",
                        "MODEL.RESNETS.STRIDE_IN_1X1", "True", "MODEL.BACKBONE.FREEZE_AT", "2")
    with pytest.raises(FinetuneConfigError) as err:
        check_finetune_setup(bad)
    msg = str(err.value)
    for fix in ("set MODEL.PIXEL_STD: [58.395", "set MODEL.RESNETS.STRIDE_IN_1X1: False",
                "set MODEL.BACKBONE.FREEZE_AT: 0"):
        assert fix in msg, msg
    # Random initialisation has no conventions to match, but FREEZE_AT with SyncBN still fails.
    with pytest.raises(FinetuneConfigError, match="FREEZE_AT"):
        check_finetune_setup(_finetune_cfg("MODEL.WEIGHTS", "", "MODEL.BACKBONE.FREEZE_AT", "2"))


def test_mismatched_config_fails_before_training(converted, tmp_path, monkeypatch):
    monkeypatch.chdir(REPO)
    with pytest.raises(SystemExit, match='set INPUT.FORMAT: "RGB"'):  # main's user error
        run_train_net("--config-file", DEMO_CFG, "MODEL.WEIGHTS", converted, "INPUT.FORMAT",
                      "BGR", "OUTPUT_DIR", tmp_path)
    assert not list(tmp_path.glob("model_*.pth")) and not (tmp_path / "metrics.json").exists()


def test_subset_is_deterministic_and_nested():
    records = [{"file_name": f"img_{i:04d}.jpg"} for i in range(1000)]
    ten = subset_records(records, 0.10, seed=3)
    one = subset_records(records, 0.01, seed=3)
    assert len(ten) == 100 and len(one) == 10
    assert subset_records(list(reversed(records)), 0.10, seed=3)[::-1] == ten  # order-free
    assert {r["file_name"] for r in one} <= {r["file_name"] for r in ten}
    assert subset_records(records, 0.10, seed=4) != ten
    assert subset_records(records, 1.0) == records
    with pytest.raises(ValueError):
        subset_records(records, 0.0)


def _expected_subset(fraction, monkeypatch):
    """(kept, total) for ``decon_demo_coco`` as registered here: the demo set has 11 images with
    Debian's labelme examples and 2 without, so the numbers come from the catalog. Kept =
    max(1, ceil(fraction * total)) (finetune/subset.py)."""
    from detectron2.data import DatasetCatalog

    monkeypatch.chdir(REPO)  # $DETECTRON2_DATASETS may be relative: resolve it as train_net does
    records = DatasetCatalog.get("decon_demo_coco")
    # Every image has a (non-crowd) instance, so FILTER_EMPTY_ANNOTATIONS drops none of them.
    assert all(any(not a.get("iscrowd", 0) for a in r["annotations"]) for r in records)
    total = len(records)
    kept = max(1, math.ceil(fraction * total))
    assert 1 <= kept < total
    return kept, total


@pytest.mark.slow
def test_two_iteration_finetune_then_eval_only(converted, tmp_path, monkeypatch):
    kept, total = _expected_subset(0.5, monkeypatch)
    run = _train_net("--config-file", DEMO_CFG, "MODEL.WEIGHTS", str(converted),
                     "OUTPUT_DIR", str(tmp_path), "SOLVER.MAX_ITER", "2", "SOLVER.STEPS", "()",
                     "SOLVER.WARMUP_ITERS", "1", "DATASETS.DECON.TRAIN_FRACTION", "0.5", *SMALL)
    log = run.stdout + run.stderr
    reported = [line for line in log.splitlines() if "Limited-data fine-tuning" in line]
    assert f"Limited-data fine-tuning: {kept} of {total} images " in log, reported or log[-3000:]
    # The converted backbone loaded by exact names: nothing of it is reported missing.
    assert "backbone.bottom_up" not in log.split("Some model parameters or buffers are not found")[-1]
    assert (tmp_path / "model_final.pth").is_file()
    assert json.loads((tmp_path / "inference" / "results.json").read_text())["results"]

    (tmp_path / "inference" / "results.json").unlink()
    run_train_net("--config-file", DEMO_CFG, "--eval-only", "MODEL.WEIGHTS",
                  tmp_path / "model_final.pth", "OUTPUT_DIR", tmp_path, *SMALL)
    results = json.loads((tmp_path / "inference" / "results.json").read_text())["results"]
    for task in ("bbox", "segm"):
        ap = results["decon_demo_coco"][task]
        assert set(ap) == {"AP", "AP50", "AP75", "APs", "APm", "APl"}, ap
        # percentages; null where undefined (after 2 iterations there may be no detection yet)
        assert all(v is None or 0.0 <= v <= 100.0 for v in ap.values()), ap
