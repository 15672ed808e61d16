"""The preflight (decon_d2/engine/preflight/): every problem found in seconds, in the launching
process, before any process or model, each with where it is and its fix; exit status 2; a
one-screen summary; ``--dry-run``. Generated folders stand in for COCO and the output folder."""
import os
import subprocess
import sys

import pytest
import torch

from decon_d2.config import build_cfg
from decon_d2.engine.checkpoint_size import checkpoint_size
from decon_d2.engine.preflight import PreflightFailed, run_preflight
from decon_d2.engine.preflight import disk as disk_module
from decon_d2.engine.preflight.devices import check_devices
from decon_d2.engine.preflight.gate import PreflightGate
from tests.helpers import gloo_process_group, spawn, write_photos
from tests.helpers.cluster import clean_env
from tests.helpers.train_net import run_train_net_cli
from tools.paths import REPO_ROOT, config_path

RECIPE = config_path("decon_pretrain.yaml")
DEMO = config_path("demo/decon_ml_demo.yaml")


def _recipe(tmp_path, *opts):
    return build_cfg(RECIPE, ["OUTPUT_DIR", str(tmp_path / "out"), *opts])


def _check(cfg, processes=1, **kw):
    kw = {"local_processes": processes, "launcher": "--num-gpus", "resume": False,
          "overwrite": False, "visible": 0, **kw}
    return run_preflight(cfg, processes=processes, **kw)


def test_main_command_without_gpu_or_data_fails_in_seconds_naming_both_fixes(tmp_path):
    """The README's command on a machine without GPUs or COCO: nothing is spawned, one message
    per problem, exit status 2, no traceback."""
    argv = [sys.executable, str(REPO_ROOT / "train_net.py"), "--config-file", str(RECIPE),
            "--num-gpus", "8", "OUTPUT_DIR", str(tmp_path / "out")]
    env = clean_env(DETECTRON2_DATASETS=str(tmp_path / "datasets"), CUDA_VISIBLE_DEVICES="")
    done = subprocess.run(argv, env=env, cwd=REPO_ROOT, capture_output=True, text=True,
                          timeout=120)
    assert done.returncode == 2, done.stderr[-2000:]
    err = done.stderr
    assert "Traceback" not in err and "Traceback" not in done.stdout
    assert "no GPU is visible" in err and "MODEL.DEVICE cpu" in err and "--num-gpus 8" in err
    assert "coco/train2017" in err and "DETECTRON2_DATASETS" in err
    assert err.count("error: preflight: 2 problems") == 1
    assert "Preflight summary" in done.stdout and not (tmp_path / "out").exists()


def test_one_process_in_process_same_two_problems(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("DETECTRON2_DATASETS", str(tmp_path / "datasets"))
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    with pytest.raises(SystemExit) as stop:
        run_train_net_cli("--config-file", RECIPE, "OUTPUT_DIR", tmp_path / "out")
    assert stop.value.code == 2
    err = capsys.readouterr().err
    assert "no GPU is visible" in err and "folder not found" in err and "Traceback" not in err


def test_device_problems_name_the_flag_binding_and_fix(tmp_path):
    cfg = _recipe(tmp_path)
    (p,) = check_devices(cfg, 8, visible=2, environ={"CUDA_VISIBLE_DEVICES": "0,1"})
    assert "8 processes" in p.what and "CUDA_VISIBLE_DEVICES=0,1" in p.where
    assert "--num-gpus 2" in p.fix
    assert check_devices(cfg, 8, visible=8) == []
    assert check_devices(cfg, 4, visible=1, launcher="local ranks") == []  # --gpus-per-task=1
    assert check_devices(build_cfg(RECIPE, ["MODEL.DEVICE", "cpu"]), 8, visible=0) == []


def test_data_counts_warn_and_missing_or_unknown_sets_stop(tmp_path, monkeypatch):
    monkeypatch.setenv("DETECTRON2_DATASETS", str(tmp_path / "datasets"))
    write_photos(tmp_path / "datasets" / "coco" / "train2017", 3)
    report = _check(_recipe(tmp_path, "MODEL.DEVICE", "cpu"))
    assert report.problems == []
    assert any("has 3 images; the recipe's has 118,287" in w for w in report.warnings)
    assert any("but SOLVER.DECON.DATASET_SIZE is 118,287" in w for w in report.warnings)
    assert any("800 epochs of 118,287 images" in line for line in report.lines)
    report = _check(_recipe(tmp_path, "MODEL.DEVICE", "cpu",
                            "DATASETS.TRAIN", "('coco_2017_unlabeled2017', 'nope')"))
    whats = [p.what for p in report.problems]
    assert any("unlabeled2017" in w for w in whats) and any("'nope' is not registered" in w
                                                            for w in whats)


def test_output_folder_rules(tmp_path, monkeypatch):
    monkeypatch.setenv("DETECTRON2_DATASETS", str(tmp_path / "datasets"))
    write_photos(tmp_path / "datasets" / "coco" / "train2017", 2)
    out = tmp_path / "out"
    out.mkdir()
    (out / "last_checkpoint").write_text("model_0000099.pth")
    cfg = _recipe(tmp_path, "MODEL.DEVICE", "cpu")
    (p,) = _check(cfg).problems
    assert "would overwrite" in p.what and "--resume" in p.fix and "--overwrite" in p.fix
    assert _check(cfg, overwrite=True).problems == []
    (out / "config.yaml").write_text(cfg.dump())
    assert _check(cfg, resume=True).problems == []  # the same recipe resumes
    other = _recipe(tmp_path, "MODEL.DEVICE", "cpu", "SOLVER.IMS_PER_BATCH", 256)
    (p,) = _check(other, resume=True).problems
    assert "SOLVER.IMS_PER_BATCH: run 512, config 256" in p.what and "new" in p.fix


def test_disk_is_counted_from_the_model_and_a_short_disk_names_the_keep_that_fits(
        tmp_path, monkeypatch):
    monkeypatch.setenv("DETECTRON2_DATASETS", str(tmp_path / "datasets"))
    write_photos(tmp_path / "datasets" / "coco" / "train2017", 2)
    cfg = _recipe(tmp_path, "MODEL.DEVICE", "cpu", "SOLVER.DECON.DATASET_SIZE", 118287)
    one = checkpoint_size(cfg).total_bytes
    assert 2.0e9 < one < 2.4e9  # the recipe's ~2.15 GiB checkpoint
    monkeypatch.setattr(disk_module, "free_bytes", lambda path: int(4.5 * one))
    (p,) = _check(cfg).problems
    # 800 epochs: 40 checkpoints written, 3 kept + 1 being written + final, plus logs
    assert "40 checkpoints" in p.what and "CHECKPOINT_MAX_KEEP 2" in p.fix
    assert f"{(5 * one + disk_module.LOG_BYTES) / 2 ** 30:.1f} GiB" in p.what
    monkeypatch.setattr(disk_module, "free_bytes", lambda path: 10 * one)
    assert _check(cfg).problems == []


def test_dry_run_prints_the_summary_and_exits_0(tmp_path, capsys):
    rc = run_train_net_cli("--config-file", DEMO, "--num-gpus", "2", "--dry-run",
                           "OUTPUT_DIR", tmp_path / "out")
    assert rc == 0 and not (tmp_path / "out").exists()
    out = capsys.readouterr().out
    for text in ("global 4 = 2 process(es) x 2 per process", "iterations = 3 epochs",
                 "after scaling", "fp32", "keep 3 + final", "one checkpoint"):
        assert text in out, text


def _gate_worker(rank, folder):
    def check(processes, local, launcher):
        raise PreflightFailed([])

    with gloo_process_group(rank, 2, folder):
        try:
            PreflightGate(check if rank == 0 else None).shared(rank, 2, 2, "slurm", lambda: None)
        except SystemExit as e:
            open(f"{folder}/exit{rank}", "w").write(str(e.code))


def test_under_a_cluster_launcher_rank_0_decides_for_all(tmp_path):
    """Only rank 0 runs the check (rank 1's would pass); both stop with status 2."""
    spawn(_gate_worker, (str(tmp_path),), 2, timeout=60)
    assert [(tmp_path / f"exit{r}").read_text() for r in (0, 1)] == ["2", "2"]


def test_gpu_memory_names_the_split_that_fits(monkeypatch):
    """The recipe's estimate (docs/benchmarks.md) against an 80 GB and a 40 GB card."""
    from decon_d2.engine.preflight.gpu_memory import SKIP_ENV, check_gpu_memory

    ml = build_cfg(RECIPE, [])
    (p,) = check_gpu_memory(ml, 64, 8, card=79.6)[0]
    assert "118.8 GiB" in p.what and "16 GPUs (32 per GPU)" in p.fix
    assert "SOLVER.IMS_PER_BATCH unchanged" in p.fix and SKIP_ENV in p.fix
    assert check_gpu_memory(ml, 16, 32, card=79.6)[0] == []  # 32 GPUs x 16
    (p,) = check_gpu_memory(ml, 64, 8, card=40.0)[0]
    assert "32 GPUs (16 per GPU)" in p.fix
    slotcon = build_cfg(config_path("slotcon_pretrain.yaml"), [])
    assert check_gpu_memory(slotcon, 64, 8, card=40.0)[0] == []
    monkeypatch.setenv(SKIP_ENV, "1")
    assert check_gpu_memory(ml, 64, 8, card=40.0)[0] == []
