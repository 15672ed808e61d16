"""The output folder: fresh, or a run of the same recipe to resume; never a silent overwrite.

The rule is ``engine/resume.py``'s (docs/cluster.md), applied before any process starts. For a
resume, the recipe is compared through the folder's ``config.yaml`` (the earlier run's, written
at its start): the trainer compares the checkpoint's own record again when it loads it.
"""
import os
from typing import List

import yaml

from ..checkpoint_files import last_checkpoint_name
from ..resume import WAYS_OUT
from .problems import Problem

__all__ = ["check_output", "RECIPE_KEYS"]

#: config keys that make a run another recipe (a resume across them is refused)
RECIPE_KEYS = ("MODEL.META_ARCHITECTURE", "MODEL.DECON.HEAD.NAME", "MODEL.DECON.DECODER_TYPE",
               "MODEL.DECON.DECODER_LEVELS", "SOLVER.IMS_PER_BATCH", "INPUT.DECON.CROP_SIZE",
               "SOLVER.DECON.EPOCHS")


def _get(tree, dotted):
    for part in dotted.split("."):
        if not isinstance(tree, dict) or part not in tree:
            return None
        tree = tree[part]
    return list(tree) if isinstance(tree, (list, tuple)) else tree


def check_output(cfg, resume: bool, overwrite: bool) -> List[Problem]:
    out = cfg.OUTPUT_DIR
    last = last_checkpoint_name(out) if os.path.isdir(out) else None
    if last is None or overwrite:
        return []
    if not resume:  # engine/resume.py's rule, before any process starts
        return [Problem(
            f"OUTPUT_DIR holds a run (last checkpoint {last}); a fresh start would overwrite it",
            f"OUTPUT_DIR={out}", WAYS_OUT)]
    saved = os.path.join(out, "config.yaml")
    if not os.path.isfile(saved):
        return []
    with open(saved) as f:
        before = yaml.safe_load(f) or {}
    now = yaml.safe_load(cfg.dump())
    changed = [f"{k}: run {_get(before, k)!r}, config {_get(now, k)!r}" for k in RECIPE_KEYS
               if _get(before, k) is not None and _get(before, k) != _get(now, k)]
    if not changed:
        return []
    return [Problem(
        "--resume would continue a run of another recipe: " + "; ".join(changed),
        f"OUTPUT_DIR={out} (its config.yaml)",
        f"resume with the config it was trained with ({saved}), or start this recipe in a new "
        f"OUTPUT_DIR")]
