"""Teacher-side tensor maths: EMA and hard copy over name-paired parameter lists. No schedule.

Twins are paired by name (``teacher.<x>`` <-> ``student.<x>``); the lists are built once and
updated with ``torch._foreach_*`` (a few fused kernels instead of hundreds of small ones).
Only parameters are EMA'd: the teacher's BatchNorm running statistics evolve through its own
forward passes in training mode, as in SlotCon.
"""
import torch

__all__ = ["paired_tensors", "ema_update_", "copy_"]


def paired_tensors(teacher, student, kind="parameters"):
    """(teacher list, student list) of same-named parameters (or buffers) of two modules.

    Every teacher tensor must have a student twin of the same shape; student-only tensors
    (predictors, centers) are ignored.
    """
    def named(m):
        return m.named_parameters() if kind == "parameters" else m.named_buffers()

    s = dict(named(student))
    t_list, s_list = [], []
    for name, t in named(teacher):
        if name not in s or s[name].shape != t.shape:
            raise KeyError(f"teacher {kind[:-1]} {name!r} has no same-shaped student twin")
        t_list.append(t)
        s_list.append(s[name])
    return t_list, s_list


@torch.no_grad()
def ema_update_(t_list, s_list, m):
    """t <- m * t + (1 - m) * s, in place, for every pair."""
    if t_list:
        torch._foreach_mul_(t_list, m)
        torch._foreach_add_(t_list, s_list, alpha=1.0 - m)


@torch.no_grad()
def copy_(t_list, s_list):
    """t <- s, in place, for every pair."""
    if t_list:
        torch._foreach_copy_(t_list, s_list)
