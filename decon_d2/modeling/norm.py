"""Map a configured norm name to one that can run in the current process layout.

The recipe asks for ``"SyncBN"`` everywhere (backbone, FPN, projectors, predictors). Two layouts
cannot run ``torch.nn.SyncBatchNorm``:
- one process: it raises outside a process group -> plain ``"BN"`` (identical maths), with one
  warning so a single-GPU run is not mistaken for the recipe;
- several processes on CPU (gloo, tests and the CPU demo): torch's SyncBatchNorm needs CUDA ->
  Detectron2's ``"naiveSyncBN"``, which all-reduces the statistics with any backend, so a
  2-process CPU run computes the same statistics as one process on the whole batch.
Every other name passes through unchanged.

``count_weighted=True`` asks for statistics weighted by each process's number of rows (needed by
the slot predictor, whose input size differs between processes and may be zero on one of them):
naive sync BN then uses ``stats_mode="N"``; torch's SyncBatchNorm weights by count already.
"""
import logging

import torch
from detectron2.layers import get_norm
from detectron2.utils import comm
from detectron2.utils.logger import log_first_n
from torch import nn

from .precision import fp32, no_autocast

__all__ = ["resolve_norm", "BatchNorm1dAs2d"]


def resolve_norm(norm, device="cpu", *, count_weighted=False):
    """Return the norm name to build for ``norm`` in this process layout.

    Args:
        norm (str): a Detectron2 norm name (``get_norm``) or "".
        device (str or torch.device): where the model will run (``cfg.MODEL.DEVICE``).
        count_weighted (bool): the layer's batch size may differ between processes.
    """
    if norm != "SyncBN":
        return norm
    if comm.get_world_size() == 1:
        log_first_n(
            logging.WARNING,
            "Norm 'SyncBN' requested in a single process: building plain 'BN' instead "
            "(same maths, no synchronisation needed).",
            n=1,
            key="message",
        )
        return "BN"
    if torch.device(device).type == "cpu":
        return "naiveSyncBN_N" if count_weighted else "naiveSyncBN"
    return norm


class BatchNorm1dAs2d(nn.Module):
    """A 2-D Detectron2 norm applied to ``N x C`` rows (reshaped to ``N x C x 1 x 1``).

    Lets the 1-D slot predictor use the same norm names as everything else (``get_norm`` only
    builds 2-D layers, and naive sync BN requires 4-D input). Maths equal ``BatchNorm1d``.

    Runs in fp32 with autocast off, whatever the autocast dtype (docs/gpu.md, "zero slot
    queries"): the predictor's rows may number zero on one process, and torch's SyncBatchNorm
    then sends statistics in the *input's* dtype (fp16 zeros) while the others send fp32 ones;
    collectives of different sizes hang or corrupt. In fp32 every process sends fp32. The output
    stays fp32; the next ``Linear`` casts it under autocast as before.
    """

    def __init__(self, norm, channels):
        super().__init__()
        layer = get_norm(norm, channels)
        self.norm = nn.Identity() if layer is None else layer  # "" = no norm

    def forward(self, x):
        with no_autocast(x):
            return self.norm(fp32(x)[:, :, None, None]).flatten(1)
