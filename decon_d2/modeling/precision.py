"""Loss maths in at least fp32 under AMP: upcast half tensors, switch autocast off.

Shared by the SlotCon and DenseCL loss functions (docs/model.md, decision 12): under bf16 a
cosine similarity keeps ~3 significant digits, an error of ~0.06 once divided by a 0.07
temperature (0.02 at DenseCL's 0.2).
"""
import torch

__all__ = ["fp32", "no_autocast"]


def fp32(x):
    """Upcast half precision to fp32; leave fp32/fp64 alone (tests use fp64)."""
    return x.float() if x.dtype in (torch.float16, torch.bfloat16) else x


def no_autocast(x):
    """Autocast off on ``x``'s device: matmuls/einsums then run in the dtype of their (upcast)
    inputs."""
    return torch.autocast(device_type=x.device.type, enabled=False)
