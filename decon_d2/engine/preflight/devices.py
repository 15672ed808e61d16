"""Devices: the GPUs a run asks for against those this machine shows, before any process starts.

Asked for: ``MODEL.DEVICE`` (Detectron2's default is "cuda") on ``--num-gpus`` processes per
machine (or the launcher's local ranks). Shown: ``torch.cuda.device_count()``, which honours
``CUDA_VISIBLE_DEVICES`` and SLURM's GPU binding (named in the message when set). Neither
creates a CUDA context.
"""
import os
from typing import List, Optional

import torch

from .problems import Problem

__all__ = ["visible_gpus", "check_devices", "binding"]

#: variables that decide which GPUs a process sees, shown in the message when set
BINDING_VARS = ("CUDA_VISIBLE_DEVICES", "SLURM_JOB_GPUS", "SLURM_STEP_GPUS", "SLURM_GPUS_ON_NODE",
                "SLURM_GPUS_PER_TASK")


def visible_gpus() -> int:
    return torch.cuda.device_count() if torch.cuda.is_available() else 0


def binding(environ=None) -> str:
    environ = os.environ if environ is None else environ
    set_ = [f"{k}={environ[k]}" for k in BINDING_VARS if k in environ]
    return ", ".join(set_) if set_ else "no CUDA_VISIBLE_DEVICES or SLURM GPU binding set"


def check_devices(cfg, local_processes: int, visible: Optional[int] = None,
                  launcher: str = "--num-gpus", environ=None) -> List[Problem]:
    """``local_processes``: the processes this machine runs (``--num-gpus``, or the launcher's
    local world size); one GPU each on CUDA."""
    device = str(cfg.MODEL.DEVICE)
    if not device.startswith("cuda"):
        return []
    visible = visible_gpus() if visible is None else visible
    where = (f"MODEL.DEVICE={device!r}, {launcher} {local_processes}; this machine shows "
             f"{visible} GPU(s) ({binding(environ)})")
    if visible == 0:
        return [Problem(
            "no GPU is visible, and the config runs on CUDA",
            where,
            "run on a machine (or in a job) with GPUs, or on CPU: add `MODEL.DEVICE cpu` at the "
            "end of the command (several CPU processes with --num-gpus N run on gloo)")]
    if local_processes > visible and visible != 1:
        return [Problem(
            f"{local_processes} processes on this machine but only {visible} GPU(s) visible",
            where,
            f"ask for {visible} process(es) per machine ({launcher} {visible}, keeping "
            f"SOLVER.IMS_PER_BATCH: the per-GPU batch grows), or get a node with "
            f"{local_processes} GPUs (srun --gpus-per-node={local_processes})")]
    if local_processes > 1 and visible == 1 and launcher == "--num-gpus":
        return [Problem(
            f"--num-gpus {local_processes} but only 1 GPU visible",
            where, f"use --num-gpus 1, or a machine with {local_processes} GPUs")]
    return []
