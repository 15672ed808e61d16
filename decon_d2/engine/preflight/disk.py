"""Disk: free space against what the run will write, counted from the model it would build.

One checkpoint's size comes from ``checkpoint_size`` (the model on the meta device: no memory,
no time); the run keeps ``CHECKPOINT_MAX_KEEP`` of them, writes one more before pruning, and
``model_final.pth`` (``CheckpointSize.run_bytes``), plus logs. Checkpoints a resumed run already
holds are on the disk already and are not counted twice.
"""
import glob
import os
import shutil
from typing import List, Optional, Tuple

from ..checkpoint_size import checkpoint_size
from .problems import Problem

__all__ = ["check_disk", "free_bytes", "GIB"]

GIB = 2.0 ** 30
#: metrics.json, log.txt per rank, config, events: generous for a 200k-iteration run
LOG_BYTES = 256 * 2 ** 20


def free_bytes(path: str) -> int:
    """Free bytes on the file system that will hold ``path`` (its nearest existing folder)."""
    path = os.path.abspath(path)
    while not os.path.exists(path):
        path = os.path.dirname(path)
    return shutil.disk_usage(path).free


def check_disk(cfg, max_iter: int) -> Tuple[List[Problem], Optional[dict]]:
    try:
        size = checkpoint_size(cfg)
    except (ValueError, KeyError, AssertionError) as e:  # the config's own errors name the key
        return [Problem(f"the model of this config cannot be built: {e}", "the config",
                        "the key the message names")], None
    period = cfg.SOLVER.CHECKPOINT_PERIOD
    written = max_iter // period if period > 0 else 0
    keep = cfg.SOLVER.DECON.CHECKPOINT_MAX_KEEP
    held = sum(os.path.getsize(p) for p in glob.glob(os.path.join(cfg.OUTPUT_DIR, "model_*.pth")))
    need = max(0, size.run_bytes(keep, written) + LOG_BYTES - held)
    free = free_bytes(cfg.OUTPUT_DIR)
    facts = {"checkpoint_gib": size.total_bytes / GIB, "checkpoints_written": written,
             "keep": keep, "need_gib": need / GIB, "free_gib": free / GIB}
    if need <= free:
        return [], facts
    fits = int((free - LOG_BYTES) // size.total_bytes) - 2
    fix = (f"set SOLVER.DECON.CHECKPOINT_MAX_KEEP {fits} (keeps {fits} periodic checkpoints)"
           if fits >= 1 else "free space there, or set OUTPUT_DIR on a larger file system")
    return [Problem(
        f"not enough disk: the run writes up to {need / GIB:.1f} GiB ({keep or 'all'} kept of "
        f"{written} checkpoints of {size.total_bytes / GIB:.2f} GiB, one more while writing, "
        f"model_final.pth, logs), {free / GIB:.1f} GiB free",
        f"OUTPUT_DIR={cfg.OUTPUT_DIR}", fix)], facts
