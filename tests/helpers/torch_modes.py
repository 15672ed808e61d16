"""Torch-function modes that watch one training step on CPU for what would hurt on a GPU.

``DeviceGuard`` records tensor factories called from ``decon_d2`` without a ``device=`` (on a
GPU they make a CPU tensor: a device mismatch, or a silent host round trip). ``HostSyncCounter``
counts the calls that make a GPU wait for the host to read a value: scalar reads (``item``,
``bool``, ``float``, ``int``, ``tolist``), data-dependent shapes (``nonzero``, boolean-mask
indexing, ``masked_select``, ``unique``, ``bincount``) and copies to the host (``cpu``, ``to("cpu")``). On CPU
nothing waits, but the calls are the same, so their count per step is known before a GPU runs
(docs/gpu.md). Calls are attributed to the first caller outside torch.
"""
import collections
import os
import sys
import weakref

import torch
from torch.overrides import TorchFunctionMode

__all__ = ["DeviceGuard", "HostSyncCounter", "caller"]

_TORCH = os.path.dirname(torch.__file__) + os.sep
_ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))) + os.sep

#: factories that make a tensor on the default device unless told otherwise
FACTORIES = {torch.zeros, torch.ones, torch.empty, torch.full, torch.arange, torch.tensor,
             torch.as_tensor, torch.rand, torch.randn, torch.randint, torch.randperm,
             torch.linspace, torch.logspace, torch.eye, torch.empty_strided}

_SCALAR = {"item", "__bool__", "__float__", "__int__", "__index__", "tolist"}
_SHAPE = {"nonzero", "argwhere", "masked_select", "unique", "unique_consecutive", "bincount"}


def caller():
    """``(path relative to the checkout or library root, function)`` of the first frame
    outside torch and this module."""
    frame = sys._getframe(2)
    while frame is not None and (frame.f_code.co_filename.startswith(_TORCH)
                                 or frame.f_code.co_filename == __file__):
        frame = frame.f_back
    if frame is None:
        return ("?", "?")
    path = frame.f_code.co_filename
    for root in (_ROOT, os.path.dirname(os.path.dirname(torch.__file__)) + os.sep):
        if path.startswith(root):
            path = path[len(root):]
            break
    return (path, frame.f_code.co_name)


class DeviceGuard(TorchFunctionMode):
    """Records ``(file, function, factory)`` of every factory called from ``decon_d2`` without a
    device, unless ``allowed`` (a dict ``{(file, function): reason}``) lists the site or its
    path starts with one of ``skip``."""

    def __init__(self, allowed, skip=()):
        super().__init__()
        self.allowed = allowed
        self.skip = tuple(skip)
        self.violations = []
        self.checked = 0

    def __torch_function__(self, func, types, args=(), kwargs=None):
        kwargs = kwargs or {}
        if func in FACTORIES:
            site = caller()
            if site[0].startswith("decon_d2" + os.sep) and not site[0].startswith(self.skip):
                self.checked += 1
                if kwargs.get("device") is None and site not in self.allowed:
                    self.violations.append((*site, func.__name__))
        return func(*args, **kwargs)


def _is_mask(index):
    items = index if isinstance(index, tuple) else (index,)
    return any(torch.is_tensor(i) and i.dtype == torch.bool for i in items)


def _kind(func, args, kwargs):
    name = getattr(func, "__name__", "")
    if name in _SCALAR:
        return "scalar"
    if name in _SHAPE or (name == "__getitem__" and len(args) > 1 and _is_mask(args[1])):
        return "shape"
    # ``to(x.device)`` cannot be told from a copy to the host on CPU: only a literal "cpu" counts
    if name == "cpu" or (name == "to" and "cpu" in (*args[1:], kwargs.get("device"))):
        return "host copy"
    return None


def _tensors(args, kwargs):
    flat = [*args, *kwargs.values()]
    flat += [x for a in flat if isinstance(a, (list, tuple)) for x in a]
    return [a for a in flat if torch.is_tensor(a)]


class HostSyncCounter(TorchFunctionMode):
    """Counts host syncs by ``(file, function, kind, op)``; ``skip``: callers whose path holds
    one of these strings are left out (the loader's code, which runs in worker processes).

    Everything is on the CPU here, so the counter follows which tensors would be on the host on
    a GPU: results of a copy to the host, and results computed from host tensors alone. Reading
    those costs no sync and is not counted."""

    def __init__(self, skip=()):
        super().__init__()
        self.skip = tuple(skip)
        self.counts = collections.Counter()
        self.host = {}  # id -> weak reference (a WeakSet would compare tensors with ==)

    def __torch_function__(self, func, types, args=(), kwargs=None):
        kwargs = kwargs or {}
        inputs = _tensors(args, kwargs)
        on_host = bool(inputs) and all(self._on_host(t) for t in inputs)
        kind = _kind(func, args, kwargs)
        if kind is not None and not on_host:
            site = caller()
            if not any(part in site[0] for part in self.skip):
                self.counts[(*site, kind, func.__name__)] += 1
        out = func(*args, **kwargs)
        if on_host or kind == "host copy":
            for t in (out if isinstance(out, (list, tuple)) else [out]):
                if torch.is_tensor(t):
                    self.host[id(t)] = weakref.ref(t)
        return out

    def _on_host(self, t):
        ref = self.host.get(id(t))
        return ref is not None and ref() is t
