"""Training imports no data-set building code: ``import decon_d2`` (every rank does it) registers
the demo and study sets without importing the checkout's ``tools``; a set not built yet is an
error naming its build command (``decon_d2/data/built_sets.py``), never a build.

Checked in a fresh interpreter: in the test process other tests have imported the builders."""
import json
import os
import subprocess
import sys

import pytest

from tools.paths import REPO_ROOT

PROBE = """
import json, sys
import decon_d2
from detectron2.data import DatasetCatalog, MetadataCatalog
print(json.dumps({
    "tools": sorted(m for m in sys.modules if m == "tools" or m.startswith("tools.")),
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
    assert seen["tools"] == []
    assert EMBEDDED <= set(seen["names"])
    assert seen["demo_sem_seg_ignore"] == 255
    assert seen["study_classes"][0] == "background" and len(seen["study_classes"]) == 11


@pytest.mark.parametrize("name, command", [
    ("decon_demo_unlabeled", "demo"), ("decon_demo_coco", "demo"), ("decon_demo_sem_seg", "demo"),
    ("decon_demo_voc", "demo"), ("decon_study_unlabeled", "study"),
    ("decon_study_seg_train", "study")])
def test_a_set_not_built_names_its_build_command(tmp_datasets_root, name, command):
    import decon_d2  # noqa: F401  (registration)
    from detectron2.data import DatasetCatalog

    from decon_d2.data import DatasetNotFoundError

    with pytest.raises(DatasetNotFoundError, match=f"python -m tools.build_data {command}"):
        DatasetCatalog.get(name)
    assert list(tmp_datasets_root.iterdir()) == []  # nothing built by the library
