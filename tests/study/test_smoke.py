"""The ResNet-18 study end to end as a smoke run (``--data demo``: the embedded demo sets, 2
pre-training and 2 fine-tuning iterations, one seed, one label fraction): every stage runs as the
real command, results.md has the probe, margin, fine-tuning (a)-(e) and paired tables, and a
re-run skips every finished stage."""
import subprocess
import sys

import pytest

from tools.paths import REPO_ROOT

ROWS = ("(a) Detectron2 random init", "(b) the runs' starting network",
        "(c) SlotCon enc + random FPN", "(d) DeCon-ML enc + random FPN",
        "(e) DeCon-ML enc + its pre-trained FPN")


def _study(out, timeout):
    cmd = [sys.executable, "-m", "tools.study", "--recipe", "r18", "--data", "demo",
           "--seeds", "0", "--fractions", "0.5", "--iters", "2", "--finetune-iters", "2",
           "--probe-max-images", "4", "--output", str(out)]
    return subprocess.run(cmd, cwd=REPO_ROOT, capture_output=True, text=True, timeout=timeout)


@pytest.mark.slow
def test_r18_study_smoke_run_end_to_end_and_rerun_skips(tmp_path):
    out = tmp_path / "study"
    first = _study(out, timeout=900)
    assert first.returncode == 0, first.stdout[-3000:] + first.stderr[-3000:]
    text = (out / "results.md").read_text()
    for heading in ("## Final probe", "more than 2 × the seed std", "## Fine-tuning transfer",
                    "## Paired differences", "## Online probe"):
        assert heading in text, heading
    assert all(row in text for row in ROWS)
    assert "(e) − (d)" in text and "(d) − (c)" in text
    assert (out / "curves.png").stat().st_size > 0
    assert len(list((out / "finetune").glob("*/inference/results.json"))) == 5
    assert len(list((out / "converted").glob("*.pkl"))) == 4  # (b), (c), (d), (e)
    assert first.stdout.count("train_net.py") >= 7  # 2 pre-training + 5 fine-tuning runs

    second = _study(out, timeout=300)
    assert second.returncode == 0, second.stderr[-3000:]
    ran = [line for line in second.stdout.splitlines() if line.startswith("$ ")]
    assert all("build_data" in line for line in ran), ran  # only the data check ran again
    assert (out / "results.md").read_text() == text
