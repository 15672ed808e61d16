import subprocess
import sys

from decon_d2.env import collect


def test_collect_reports_versions_and_devices():
    rows = dict(collect())
    for key in ("python", "torch", "torchvision", "detectron2", "pycocotools",
                "detectron2 compiled extension (_C)", "CUDA available", "GPU count"):
        assert key in rows, key
    import detectron2
    import torch

    assert rows["torch"].startswith(torch.__version__)
    assert rows["detectron2"].startswith(detectron2.__version__)
    assert rows["GPU count"] == str(torch.cuda.device_count())


def test_cli_prints_report():
    out = subprocess.run([sys.executable, "-m", "decon_d2.env"], capture_output=True, text=True,
                         check=True, timeout=120).stdout
    assert "detectron2" in out and "CUDA available" in out and "pycocotools" in out
