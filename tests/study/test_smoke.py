"""The ResNet-18 study end to end as a smoke run (``--data demo``: the embedded demo sets, 2
pre-training and 2 fine-tuning iterations, one seed, one label fraction): every stage runs as the
real command, results.md has the probe, margin, fine-tuning (a)-(e) and paired tables, and a
re-run (in-process, commands recorded) skips every finished stage."""
import subprocess
import sys

import pytest

from tools.paths import REPO_ROOT
from tools.study import pipeline

ROWS = ("(a) Detectron2 random init", "(b) the runs' starting network",
        "(c) SlotCon enc + random FPN", "(d) DeCon-ML enc + random FPN",
        "(e) DeCon-ML enc + its pre-trained FPN")


def _args(out):
    return ["--recipe", "r18", "--data", "demo", "--seeds", "0", "--fractions", "0.5", "--iters",
            "2", "--finetune-iters", "2", "--probe-max-images", "4", "--jobs", "2", "--no-gate",
            "--output", str(out)]


@pytest.mark.slow
def test_r18_study_smoke_run_end_to_end_and_rerun_skips(tmp_path, monkeypatch):
    out = tmp_path / "study"
    first = subprocess.run([sys.executable, "-m", "tools.study", *_args(out)], cwd=REPO_ROOT,
                           capture_output=True, text=True, timeout=900)
    assert first.returncode == 0, first.stdout[-3000:] + first.stderr[-3000:]
    text = (out / "results.md").read_text()
    for heading in ("## The preregistered endpoint", "## Frozen probe", "## Paired differences, "
                    "frozen probe", "## Fine-tuning transfer", "## Paired differences (same",
                    "## Online probe", "## Health signals"):
        assert heading in text, heading
    assert all(row in text for row in ROWS)
    assert "(e) − (d)" in text and "(d) − (c)" in text
    for row in ("slotcon teacher, BN re-estimated", "decon_ml student", "Detectron2 random init, "
                "BN re-estimated", "decon_ml iteration 0 |"):
        assert row in text, row
    assert "slotcon: res5 teacher − its iteration 0 = " in text
    assert len(list((out / "probe").glob("*.json"))) == 12  # 5 per method + 2 random
    assert (out / "curves.png").stat().st_size > 0
    assert len(list((out / "finetune").glob("*/inference/results.json"))) == 5
    assert len(list((out / "converted").glob("*.pkl"))) == 4  # (b), (c), (d), (e)
    assert first.stdout.count("train_net.py") >= 7  # 2 pre-training + 5 fine-tuning runs

    # the re-run, in this process with every command recorded instead of run
    ran = []
    monkeypatch.setattr(pipeline, "run", ran.append)
    monkeypatch.setattr(pipeline, "run_many", lambda jobs, *a, **k: ran.extend(jobs))
    monkeypatch.chdir(REPO_ROOT)
    assert pipeline.main(_args(out)) == 0
    assert ran == [[sys.executable, "-m", "tools.build_data", "demo"]], ran  # the data check only
    assert (out / "results.md").read_text() == text

    # the gate: without --no-gate and with SlotCon failing its endpoint, DeCon-ML's arm (its
    # probes deleted here, so it would run them) and the fine-tuning are not run
    for f in (out / "probe").glob("decon_ml_*.json"):
        f.unlink()
    ran.clear()
    monkeypatch.setattr(pipeline.endpoint, "verdict",
                        lambda rows, method, seeds: {"passed": False, "line": f"{method}: fails"})
    assert pipeline.main([a for a in _args(out) if a != "--no-gate"]) == 0
    assert ran == [[sys.executable, "-m", "tools.build_data", "demo"]], ran
    gated = (out / "results.md").read_text()
    assert "Not run, as preregistered: decon_ml and the fine-tuning rows" in gated
    assert "## Fine-tuning transfer" not in gated and "decon_ml teacher" not in gated
