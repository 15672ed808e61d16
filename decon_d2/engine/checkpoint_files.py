"""The checkpoint files of an ``OUTPUT_DIR``, read from the folder itself.

fvcore's retention (``PeriodicCheckpointer.max_to_keep``) only remembers the files the current
process wrote, so the files of earlier slots of a requeued job and the stop checkpoints
(``preemption.py``) were never deleted. Everything here scans the folder instead, so the bound
holds across restarts: ``prune`` keeps the newest ``keep`` ``model_XXXXXXX.pth`` by iteration,
never the file ``last_checkpoint`` names and never ``model_final.pth`` (its name has no
iteration). ``sweep_temp_files`` removes what interrupted atomic writes left
(``utils/atomic.py`` names them ``.<name>.<random>.tmp``).
"""
import logging
import os
import re
from typing import List, Optional

logger = logging.getLogger(__name__)

#: a periodic or stop checkpoint, with its iteration
CHECKPOINT_NAME = re.compile(r"^model_(\d{7,})\.pth$")
#: an unfinished write of a checkpoint or of last_checkpoint
TEMP_NAME = re.compile(r"^\.(model_\w+\.pth|last_checkpoint)\..+\.tmp$")
LAST_CHECKPOINT = "last_checkpoint"
FINAL = "model_final.pth"


def last_checkpoint_name(folder) -> Optional[str]:
    """The file name ``last_checkpoint`` holds, or None without one."""
    try:
        with open(os.path.join(folder, LAST_CHECKPOINT)) as f:
            return f.read().strip() or None
    except FileNotFoundError:
        return None


def iteration_checkpoints(folder) -> List[str]:
    """``model_XXXXXXX.pth`` names in ``folder``, newest iteration first."""
    if not os.path.isdir(folder):
        return []
    found = [(int(m.group(1)), name) for name in os.listdir(folder)
             if (m := CHECKPOINT_NAME.match(name))]
    return [name for _, name in sorted(found, reverse=True)]


def resume_candidates(folder) -> List[str]:
    """Paths to try when resuming: what ``last_checkpoint`` names, then the other iteration
    checkpoints newest first (the fallback when the newest is unreadable)."""
    last = last_checkpoint_name(folder)
    names = ([last] if last else []) + [n for n in iteration_checkpoints(folder) if n != last]
    return [os.path.join(folder, n) for n in names]


def prune(folder, keep: int) -> List[str]:
    """Delete all but the newest ``keep`` iteration checkpoints (0: delete nothing); the one
    ``last_checkpoint`` names is kept even when older. Returns the deleted names."""
    if keep <= 0:
        return []
    last = last_checkpoint_name(folder)
    deleted = []
    for name in iteration_checkpoints(folder)[keep:]:
        if name == last:
            continue
        try:
            os.unlink(os.path.join(folder, name))
            deleted.append(name)
        except FileNotFoundError:
            pass
    if deleted:
        logger.info(f"Deleted {len(deleted)} old checkpoint(s) (SOLVER.DECON.CHECKPOINT_MAX_KEEP "
                    f"{keep}): {', '.join(deleted)}")
    return deleted


def sweep_temp_files(folder) -> List[str]:
    """Delete the temporary files of interrupted checkpoint writes. Call before this run writes
    anything (one writer per folder: rank 0 of one run)."""
    if not os.path.isdir(folder):
        return []
    stale = [n for n in os.listdir(folder) if TEMP_NAME.match(n)]
    for name in stale:
        try:
            os.unlink(os.path.join(folder, name))
        except FileNotFoundError:
            pass
    if stale:
        logger.warning(f"Removed {len(stale)} unfinished checkpoint write(s) of an interrupted "
                       f"run from {folder}: {', '.join(stale)}")
    return stale
