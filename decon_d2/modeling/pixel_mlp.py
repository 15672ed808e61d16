"""The projector's per-pixel MLP as matrix products on a pixels x channels matrix ("rows").

A 1x1-conv MLP on ``B x C x H x W`` maps is a GEMM on the ``(B*H*W) x C`` matrix of their
pixels, and batch norm over (B, H, W) is batch norm over those rows. Here the pixels of all
views go through one GEMM per layer, interleaved (row ``p*V + v`` is pixel p of view v), so the
hidden matrix ``(P*V) x C`` read as ``P x (V*C)`` gives each view its own norm channels: norm
statistics stay per view (docs/model.md, decision 9) while each weight gets one gradient GEMM
instead of one per view plus a sum. Running statistics are updated as if the views had been
normalised one after the other (``_compose_running``). Any BatchNorm-family norm works
(BatchNorm2d, torch SyncBatchNorm, Detectron2's naive sync BN, through ``functional_call``).

``recompute`` (memory, ``mlp_rows``): only the narrow input and one pre-norm hidden matrix per
later layer are kept for backward; the narrow first linear, the norms and GELUs run again there
(no hidden x hidden GEMM: recomputation stops once that product's input exists) and the running
statistics are restored after it.
"""
import torch
import torch.nn.functional as F
from torch import nn
from torch.func import functional_call
from torch.nn.modules.batchnorm import _BatchNorm

from .recompute import recomputed

__all__ = ["rows_supported", "to_rows", "from_rows", "mlp_rows"]


def rows_supported(layers):
    """The Sequential (conv, norm, act, ..., conv) can run on rows: 1x1 convs without groups and
    BatchNorm-family norms with a momentum (or none)."""
    for m in layers:
        if isinstance(m, nn.Conv2d) and (m.kernel_size != (1, 1) or m.groups != 1):
            return False
        if isinstance(m, _BatchNorm) and m.momentum is None:  # cumulative average: not composed
            return False
        if not isinstance(m, (nn.Conv2d, _BatchNorm, nn.Identity, nn.GELU)):
            return False
    return True


def to_rows(maps):
    """V maps ``B x C x H x W`` (same shape) -> ``(B*H*W*V) x C``, views interleaved."""
    c = maps[0].shape[1]
    if len(maps) == 1:
        return maps[0].permute(0, 2, 3, 1).reshape(-1, c)
    return torch.stack([x.permute(0, 2, 3, 1) for x in maps], dim=3).reshape(-1, c)


def from_rows(rows, shape, views):
    """Inverse of ``to_rows`` for ``B x D x H x W`` outputs: V strided views, no copy."""
    b, _, h, w = shape
    r = rows.view(b, h, w, views, rows.shape[1])
    return [r[:, :, :, v].permute(0, 3, 1, 2) for v in range(views)]


@torch.no_grad()
def _compose_running(old, new, views, momentum):
    """``new`` holds V copies of ``old`` each moved once, r_v = (1-m) r + m s_v: return the
    buffer moved by the V views in turn, r <- (1-m) r + m s_v for v = 1..V."""
    new = new.view(views, -1)
    acc = new[0].clone()
    for v in range(1, views):
        acc.mul_(1.0 - momentum).add_(new[v] - (1.0 - momentum) * old)
    return acc


def norm_rows(norm, h, views):
    """``norm`` (over C channels) on ``h`` = ``(P*V) x C`` with statistics per view."""
    if isinstance(norm, nn.Identity):
        return h
    c = h.shape[1]
    x = h.view(-1, views * c)[:, :, None, None]  # P x (V*C) x 1 x 1: one channel set per view
    state = {n: t.repeat(views) for n, t in norm.named_parameters(recurse=False)}
    bufs = dict(norm.named_buffers(recurse=False))
    for n in ("running_mean", "running_var"):
        if bufs.get(n) is not None:
            state[n] = bufs[n].repeat(views)
    count = bufs.get("num_batches_tracked")
    if count is not None:
        state["num_batches_tracked"] = count.clone()
    y = functional_call(norm, state, (x,))
    if norm.training and norm.track_running_stats:
        for n in ("running_mean", "running_var"):
            if n in state:
                bufs[n].copy_(_compose_running(bufs[n], state[n], views, norm.momentum))
        if count is not None:
            count.add_(views)
    return y.view(-1, c)


def _linear(conv, x):
    return F.linear(x, conv.weight.flatten(1), conv.bias)


def _norm_act_linear(norm, act, conv, views, h, first=None):
    if first is not None:
        h = _linear(first, h)
    return _linear(conv, act(norm_rows(norm, h, views)))


def mlp_rows(layers, rows, views, recompute=False):
    """The 1x1-conv Sequential ``conv, (norm, act, conv)*`` applied to ``rows``.

    ``recompute``: the first step (narrow input -> first linear -> norm, act -> next linear) and
    each later (norm, act, linear) step are checkpointed, so backward keeps the narrow input and
    one pre-norm matrix per later hidden layer; it runs the first (narrow) linear, the norms and
    activations again, never a hidden x hidden product (recomputation stops at its input).
    """
    if not recompute:
        h = _linear(layers[0], rows)
        for i in range(1, len(layers), 3):
            h = _norm_act_linear(layers[i], layers[i + 1], layers[i + 2], views, h)
        return h
    h = rows
    for i in range(1, len(layers), 3):
        first = layers[0] if i == 1 else None
        h = recomputed(layers[i], _norm_act_linear, layers[i], layers[i + 1], layers[i + 2],
                       views, h, first)
    return h
