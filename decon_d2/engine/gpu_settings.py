"""``apply_gpu_settings(cfg)``: the run's TF32 choices, set once per process and logged.

Torch's defaults differ by operation (TF32 on for cuDNN convolutions, off for matrix products)
and are global switches that nothing in Detectron2 touches; a run states its own
(``SOLVER.TF32``, docs/gpu.md "Settings") so that two runs of one config compute alike
whatever the calling code set before. ``CUDNN_BENCHMARK`` is Detectron2's key, applied by
``default_setup``; it is only reported here.
"""
import logging

import torch

__all__ = ["apply_gpu_settings", "gpu_settings", "set_tf32"]

logger = logging.getLogger(__name__)


def apply_gpu_settings(cfg):
    """Set ``torch.backends`` from ``SOLVER.TF32`` and log what the process runs with."""
    set_tf32(cfg.SOLVER.TF32.MATMUL, cfg.SOLVER.TF32.CONV)
    logger.info("GPU settings: " + ", ".join(f"{k}={v}" for k, v in gpu_settings().items()))


def set_tf32(matmul, conv):
    """TF32 for fp32 matrix products and for cuDNN's fp32 convolutions."""
    torch.backends.cuda.matmul.allow_tf32 = bool(matmul)
    torch.backends.cudnn.allow_tf32 = bool(conv)


def gpu_settings():
    """What this process computes with now (for logs and benchmark records)."""
    return {
        "tf32_matmul": torch.backends.cuda.matmul.allow_tf32,
        "tf32_conv": torch.backends.cudnn.allow_tf32,
        "cudnn_benchmark": torch.backends.cudnn.benchmark,
        "float32_matmul_precision": torch.get_float32_matmul_precision(),
    }
