"""Whether a run resumes, and whether the ``OUTPUT_DIR`` it starts in or resumes is the right one.

- A restarted job resumes by itself: a SLURM requeue (``SLURM_RESTART_COUNT`` > 0) or a torchrun
  restart (``TORCHELASTIC_RESTART_COUNT`` > 0) is the same run continuing, with or without
  ``--resume``.
- A fresh start never overwrites a run silently: an ``OUTPUT_DIR`` holding one (a
  ``last_checkpoint``) stops the start with the three ways out (``--resume``, a new folder,
  ``--overwrite``).
- A resumed checkpoint must belong to the same recipe: its ``decon_meta`` record is compared
  with the config's, and a mismatch names the config keys.
"""
import logging
import os
from typing import List, Mapping, Optional, Tuple

from detectron2.utils import comm

from .checkpoint_files import LAST_CHECKPOINT, iteration_checkpoints, last_checkpoint_name

logger = logging.getLogger(__name__)

#: launchers' restart counters: a value > 0 means this process belongs to a restarted job
RESTART_VARS = ("SLURM_RESTART_COUNT", "TORCHELASTIC_RESTART_COUNT")

#: record field -> the config keys that set it (what a mismatch names)
RECORD_KEYS = {
    "variant": "the variant (MODEL.DECON.DECODER_TYPE / DECODER_LEVELS / HEAD.NAME)",
    "global_batch": "SOLVER.IMS_PER_BATCH",
    "max_iter": "SOLVER.MAX_ITER (from SOLVER.DECON.EPOCHS and the data set size)",
    "crop_size": "INPUT.DECON.CROP_SIZE",
    "seed": "SEED",
}


class OutputDirError(ValueError):
    """The run would overwrite another run, or resume a checkpoint of another recipe."""


def restart(env: Optional[Mapping[str, str]] = None) -> Optional[Tuple[str, int]]:
    """``(variable, count)`` when this process belongs to a restarted job, else None."""
    env = os.environ if env is None else env
    for key in RESTART_VARS:
        value = env.get(key, "")
        if value.isdigit() and int(value) > 0:
            return key, int(value)
    return None


def decide_resume(resume_flag: bool, env: Optional[Mapping[str, str]] = None) -> bool:
    """``--resume``, or a restarted job (said in the log)."""
    if resume_flag:
        return True
    found = restart(env)
    if found:
        logger.info(f"{found[0]}={found[1]}: a restarted job, resuming OUTPUT_DIR by itself.")
        return True
    return False


#: the three ways out of a fresh start into a folder that holds a run (here and the preflight's)
WAYS_OUT = ("Continue it: add --resume (to sbatch: after the config). Start a new run: set "
            "OUTPUT_DIR to a new folder. Replace it: add --overwrite (deletes its checkpoints).")


def check_output_dir(output_dir: str, resume: bool, overwrite: bool) -> None:
    """Before a run starts writing: a fresh start (no ``--resume``) into a folder that holds a
    run stops, unless ``overwrite``, which deletes that run's checkpoints (rank 0)."""
    last = last_checkpoint_name(output_dir)
    if last is None or resume:
        return
    if overwrite:
        if comm.is_main_process():
            names = iteration_checkpoints(output_dir) + [LAST_CHECKPOINT, "model_final.pth"]
            for name in names:
                path = os.path.join(output_dir, name)
                if os.path.exists(path):
                    os.unlink(path)
            logger.warning(f"--overwrite: deleted the checkpoints of the run in {output_dir}.")
        comm.synchronize()
        return
    raise OutputDirError(
        f"OUTPUT_DIR {output_dir} holds a run (last_checkpoint: {last}); a fresh start would "
        f"overwrite it. {WAYS_OUT}")


def record_mismatches(stored, current) -> List[str]:
    """The fields in which a resumed checkpoint's record (``PretrainRecord``) differs from the
    current run's, each naming its config keys; fields the file lacks are not compared."""
    out = []
    for field, keys in RECORD_KEYS.items():
        old, new = getattr(stored, field, None), getattr(current, field, None)
        if old is not None and new is not None and old != new:
            out.append(f"{keys}: checkpoint {old!r}, config {new!r}")
    return out


def check_resumed_record(stored, current, path: str) -> None:
    """Stop a resume whose checkpoint was written by another recipe."""
    if stored is None:
        return
    bad = record_mismatches(stored, current)
    if bad:
        raise OutputDirError(
            f"{path} was written by another recipe than this config:\n  " + "\n  ".join(bad)
            + "\nResume with the config it was trained with (its config.yaml in OUTPUT_DIR), "
              "or start the new recipe in a new OUTPUT_DIR.")
