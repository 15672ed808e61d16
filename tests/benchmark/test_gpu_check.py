"""``python -m tools.gpu_check --device cpu --tiny``: the GPU check's CPU half, in-process.

What needs no CUDA runs for real (two gloo ranks in float64 against one process, fp16 steps of
the trainer with its GradScaler); what needs CUDA is skipped, saying so, and both files are
written. The check's workers are joined with a deadline inside the tool (``--budget-s``).
"""
import json
import math
import multiprocessing
import multiprocessing.forkserver

import pytest

from tests.helpers.runs import PRELOAD
from tools.gpu_check.__main__ import SECTIONS, main
from tools.gpu_check.runner import markdown

CUDA_ONLY = ("nccl_world1", "cpu_cuda_parity", "recipe_step", "densecl_ml")


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    out = tmp_path_factory.mktemp("gpu_check")
    # The suite's fork server (tests/helpers/runs.py), started here if no test has yet: the
    # tool's workers fork from it like every spawned test's, and later tests find it preloaded
    # with what they import.
    multiprocessing.get_context("forkserver").set_forkserver_preload(PRELOAD)
    multiprocessing.forkserver.ensure_running()
    rc = main(["--device", "cpu", "--tiny", "--out", str(out), "--budget-s", "150"])
    data = json.loads((out / "gpu_check.json").read_text())
    return rc, data, (out / "gpu_check.md").read_text()


def test_every_section_recorded_in_both_files(run):
    rc, data, md = run
    records = {r["section"]: r for r in data["sections"]}
    assert list(records) == [name for name, _ in SECTIONS]
    assert rc == 0 and all(r["status"] in ("ok", "skipped") for r in records.values())
    for name in records:
        assert f"| {name} | {records[name]['status']} |" in md
    assert records["env"]["status"] == "ok"
    assert records["env"]["data"]["torch"] and records["env"]["data"]["detectron2"]
    for name in CUDA_ONLY:
        assert records[name]["status"] == "skipped" and "CUDA" in records[name]["reason"], name


def test_two_ranks_mean_loss_and_averaged_gradients_equal_one_process(run):
    r = next(r for r in run[1]["sections"] if r["section"] == "two_ranks_one_gpu")
    assert r["status"] == "ok", r
    d = r["data"]
    got = d["config_norms"]
    assert d["dtype"] == "float64" and got["norm_types"] == ["NaiveSyncBatchNorm"]
    assert "naive_sync_bn" not in d  # the second attempt is for CUDA's SyncBatchNorm only
    # each rank's loss is its own half's; their mean is the one-process loss
    assert got["rank_losses"][0] != pytest.approx(got["rank_losses"][1], rel=1e-3)
    assert got["mean_loss"] == pytest.approx(d["one_process_loss"], rel=1e-12)
    assert sum(got["rank_losses"]) / 2 == pytest.approx(d["one_process_loss"], rel=1e-12)
    assert got["rank_grad_norms"][0] == got["rank_grad_norms"][1] and got["ranks_agree"]
    assert got["rank_grad_norms"][0] == pytest.approx(d["one_process_grad_norm"], rel=1e-10)
    assert got["grad_tensors_compared"] > 100 and got["grad_tensors_max_rel_diff"] < 1e-8


def test_fp16_steps_keep_a_finite_scale(run):
    r = next(r for r in run[1]["sections"] if r["section"] == "fp16_scaler")
    assert r["status"] == "ok", r
    d = r["data"]
    assert len(d["losses"]) == len(d["scales"]) == d["steps"] > 0
    assert all(map(math.isfinite, d["losses"])) and d["finite_weights"]
    assert math.isfinite(d["scale"]) and 0 < d["scale"] <= 2.0 ** 16


def test_markdown_names_failures_skips_and_a_killed_section():
    meta = {"device": "cuda", "started": "t", "mode": "full", "budget_s": 420}
    md = markdown(meta, [
        {"section": "a", "status": "failed", "seconds": 1.0, "error": "RuntimeError: x | y"},
        {"section": "b", "status": "skipped", "seconds": 0.0, "reason": "needs CUDA"},
        {"section": "c", "status": "running", "seconds": 0.0}])
    assert "| a | failed | RuntimeError: x / y | 1.0 |" in md
    assert "| b | skipped | needs CUDA | 0.0 |" in md and "was running" in md
