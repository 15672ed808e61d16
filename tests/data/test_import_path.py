"""Training imports no data-set building code: ``import decon_d2`` (every rank does it) registers
the demo and study sets without importing ``decon_d2.build_data``; a loader imports its builder
only when it runs (``decon_d2/data/demo_sets.py``, ``decon_d2/data/study_sets.py``).

Checked in a fresh interpreter: in the test process other tests may already have imported the
builders."""
import importlib.util
import json
import os
import subprocess
import sys

from decon_d2.utils.paths import REPO_ROOT

PROBE = """
import json, sys
import decon_d2
from detectron2.data import DatasetCatalog, MetadataCatalog
print(json.dumps({
    "build_data": sorted(m for m in sys.modules if m.startswith("decon_d2.build_data")),
    "names": sorted(DatasetCatalog.list()),
    "demo_sem_seg_ignore": MetadataCatalog.get("decon_demo_sem_seg").ignore_label,
    "study_classes": list(MetadataCatalog.get("decon_study_seg_val").stuff_classes),
}))
"""
EMBEDDED = {"decon_demo_unlabeled", "decon_demo_coco", "decon_demo_sem_seg",
            "decon_study_unlabeled", "decon_study_seg_train", "decon_study_seg_val"}


def _fresh_import() -> dict:
    env = dict(os.environ, OMP_NUM_THREADS="1")
    run = subprocess.run([sys.executable, "-c", PROBE], cwd=REPO_ROOT, env=env,
                         capture_output=True, text=True, timeout=180)
    assert run.returncode == 0, run.stderr[-3000:]
    return json.loads(run.stdout.strip().splitlines()[-1])


def test_import_decon_d2_registers_embedded_sets_without_builders():
    seen = _fresh_import()
    assert seen["build_data"] == []
    assert EMBEDDED <= set(seen["names"])
    assert seen["demo_sem_seg_ignore"] == 255
    assert seen["study_classes"][0] == "background" and len(seen["study_classes"]) == 11


def test_hints_name_the_build_command_and_old_modules_are_gone():
    from decon_d2.data import demo_sets, study_sets

    assert "python -m decon_d2.build_data demo" in demo_sets.HINT
    assert "python -m decon_d2.build_data study" in study_sets.HINT
    # the tool packages decon_d2.demo / decon_d2.study no longer share a name inside data/
    assert importlib.util.find_spec("decon_d2.data.demo") is None
    assert importlib.util.find_spec("decon_d2.data.study") is None
