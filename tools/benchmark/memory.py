"""``python -m tools.benchmark.memory``: tensor memory of a training step, by kind.

Device-independent: torch's ``MemTracker`` counts every tensor alive (parameters, gradients,
optimiser state, buffers, activations and temporaries), which is what
``torch.cuda.max_memory_allocated`` reports on a GPU minus allocator rounding and library
workspaces. So a CPU run at a small size measures what the same step holds on a GPU.

Measured per case, after one untracked step (which creates the optimiser state): the tensors
alive at the end of the forward (what backward will need), the peak of forward + backward (the
engine's order: forward, ``zero_grad``, backward) and the peak of the optimiser step + EMA.
At small sizes the peak falls at the end of backward (all gradients, constants), at the paper's
size inside the dense loss's backward, so the estimate is built from parts, each measured:

    static (weights, buffers, optimiser state) + all gradients
    + activations alive after the forward, fitted as constant + slope x batch at two batches
      and extrapolated to ``--target-batch`` images of ``--target-crop`` px (every map and
      every dense-loss row count grows by (target/crop)^2 when both are multiples of 32)
    + the InfoNCE backward's temporaries: ``copies`` x rows x queue length x 4 bytes, rows =
      the largest level's rows at the target (or the chunk), ``copies`` measured on ``info_nce``
      (unchunked, less the forward's logits, which the activations already hold).

It is an upper bound: some gradients do not exist yet when the loss's backward peaks, and the
logits of levels whose backward ran earlier (p3..p5 before p2) are freed by then. SlotCon heads
have no queue (loss backward 0 here); their slot-contrast logits grow with the batch squared
and are recorded per call for ``tools.benchmark.gpu_memory``, which adds them at the target.
"""
import argparse
import contextlib
import json
import sys
from unittest import mock

import torch
import torch.nn.functional as F
from detectron2.utils.events import EventStorage

from decon_d2.engine.optimizer import build_optimizer
from decon_d2.engine.step import amp_dtype
from tools.benchmark.synthetic_batch import synthetic_batch

from tools.benchmark.cases import bench_cfg, build_bench_model, parse_case

MIB = 2.0 ** 20
STATIC = ("param", "buffer", "opt")


def _tracked(fn, model, optimizer, when="peak"):
    """{kind: MiB} at the peak of ``fn()`` (``when="current"``: when it returns); MemTracker's
    kinds param, buffer, grad, opt, act, temp, total."""
    from torch.distributed._tools.mem_tracker import MemTracker

    tracker = MemTracker()
    own = tracker._track_module_params_and_buffers

    def track(module, install_grad_hooks=True):
        # a norm run through ``functional_call`` on per-view copies of its parameters
        # (decon_d2/modeling/pixel_mlp.py, norm_rows): the copies are temporaries, counted as
        # such, and accept no gradient hook
        if any(not q.is_leaf or not q.requires_grad for q in module.parameters()):
            return 0, 0
        return own(module, install_grad_hooks)

    tracker._track_module_params_and_buffers = track
    # MemTracker hooks every parameter's gradient; the frozen teacher's must accept a hook (it
    # runs under no_grad throughout, so it still records no graph and gets no gradient).
    frozen = [q for q in model.parameters() if not q.requires_grad]
    for q in frozen:
        q.requires_grad_(True)
    try:
        tracker.track_external(model, optimizer)
        with tracker:
            fn()
    finally:
        for q in frozen:
            q.requires_grad_(False)
    (snap,) = tracker.get_tracker_snapshot(when).values()
    return {str(k).rsplit(".", 1)[-1].lower(): v / MIB for k, v in snap.items()}


@contextlib.contextmanager
def _slot_contrast_calls(calls):
    """Appends each ``slot_contrast`` call's sizes to ``calls``: its logits are queries x keys,
    quadratic in the batch, so no linear fit can carry them to another batch."""
    from decon_d2.modeling.heads.slotcon import head as slot_head

    original = slot_head.slot_contrast

    def recorded(q_slots, k_slots, q_present, k_present, *args, **kwargs):
        b, k, d = q_slots.shape
        calls.append({"b": b, "k": k, "d": d, "queries": int((q_present & k_present).sum()),
                      "keys": int(k_present.sum())})
        return original(q_slots, k_slots, q_present, k_present, *args, **kwargs)

    with mock.patch.object(slot_head, "slot_contrast", recorded):
        yield


def peak_memory(case, crop, batch, precision="fp32", device="cpu", opts=(), instant_test=False):
    """``{"fwd_bwd": {kind: MiB}, "opt": {kind: MiB}, "grads_mib": all gradients}`` for one
    step, plus what the extrapolation needs (strides, queue length, slot-contrast calls);
    ``instant_test``: the case's tiny config (smoke tests)."""
    cfg = bench_cfg(case, crop=crop, batch=batch, device=device, precision=precision, opts=opts,
                    instant_test=instant_test)
    model = build_bench_model(cfg, case)
    optimizer = build_optimizer(cfg, model)
    data, dtype = synthetic_batch(batch, crop), amp_dtype(cfg)
    m = cfg.SOLVER.DECON.TEACHER_BASE_MOMENTUM

    kept = []

    def forward():
        with torch.autocast(torch.device(device).type, dtype=dtype, enabled=dtype is not None):
            kept.append(sum(v.float() for v in model(data).values()))

    def forward_backward():
        forward()
        optimizer.zero_grad()
        kept.pop().backward()

    def optimizer_step():
        optimizer.step()
        model.momentum_update(m)

    with EventStorage(0):
        forward_backward()
        optimizer_step()
        calls = []
        with _slot_contrast_calls(calls):
            out = {"after_forward": _tracked(forward, model, optimizer, when="current")}
        kept.clear()
        out.update(fwd_bwd=_tracked(forward_backward, model, optimizer),
                   opt=_tracked(optimizer_step, model, optimizer))
    out["grads_mib"] = sum(p.numel() * p.element_size() for p in model.parameters()
                           if p.requires_grad) / MIB
    heads = model.student.heads
    shapes = model.student.backbone.output_shape()
    out["finest_stride"] = min(shapes[name].stride for name in heads)
    queue = getattr(heads[next(iter(heads))], "queue_global", None)  # SlotCon: no queue
    out["queue_length"] = 0 if queue is None else queue.shape[0]
    out["chunk_rows"] = cfg.MODEL.DECON.DENSECL.LOSS_CHUNK_ROWS
    # the heads run in this order, two directions each (decon_d2/modeling/meta_arch.py)
    names = [name for name in heads for _ in (0, 1)]
    out["slot_contrast"] = [dict(c, head=n, stride=shapes[n].stride) for n, c in zip(names, calls)]
    # what crosses processes on a GPU (one process here): MoCo's shuffle of the teacher's views
    # and the teacher's maps the heads read (decon_d2/modeling/dist.py)
    out["levels"] = {n: [shapes[n].channels, shapes[n].stride] for n in heads}
    out["teacher_shuffle"] = {"on": model.teacher_batch_shuffle,
                              "views": len(model.views["teacher"])}
    return out


def info_nce_copies(chunk_rows, rows=1024, queue_length=8192, dim=128):
    """Peak temporaries of ``info_nce`` forward + backward, in units of one fp32 matrix of
    (rows, or the chunk's rows) x queue length."""
    from decon_d2.modeling.heads.densecl.ops import info_nce
    from torch.distributed._tools.mem_tracker import MemTracker

    g = torch.Generator().manual_seed(0)
    q, k = (F.normalize(torch.randn(rows, dim, generator=g), dim=1) for _ in range(2))
    queue = F.normalize(torch.randn(queue_length, dim, generator=g), dim=1)
    q.requires_grad_()
    tracker = MemTracker()
    with tracker:
        info_nce(q, k, queue, 0.2, chunk_rows).backward()
    (snap,) = tracker.get_tracker_snapshot("peak").values()
    total = next(v for key, v in snap.items() if str(key) == "Total")
    return (total - q.numel() * 4) / (min(rows, chunk_rows or rows) * queue_length * 4)


def extrapolate(peaks, crop, target_crop, target_batch, copies, target_chunk=None,
                act_offsets=None):
    """``{batch: peak_memory(...)}`` at two batches -> dict of the estimate's parts (MiB) at
    ``target_batch`` images of ``target_crop`` px; ``copies``: ``info_nce_copies`` of the
    chunking at the target, ``target_chunk`` its rows (None: the case's). A chunked case keeps
    no logits after its forward, so its activations hold for any chunk size. ``act_offsets``:
    ``{batch: MiB}`` taken off the activations before the fit (what is added back separately,
    e.g. the slot-contrast logits). No queue (SlotCon): loss backward 0."""
    (b0, p0), (b1, p1) = sorted(peaks.items())[:2]
    off = act_offsets or {}
    act = [p["after_forward"]["act"] + p["after_forward"]["temp"] - off.get(b, 0.0)
           for b, p in ((b0, p0), (b1, p1))]
    slope = (act[1] - act[0]) / (b1 - b0)
    scale = target_batch * (target_crop / crop) ** 2
    rows = target_batch * (target_crop // p1["finest_stride"]) ** 2
    chunk = p1["chunk_rows"] if target_chunk is None else target_chunk
    if chunk:
        rows = min(rows, chunk)
    parts = {
        "static": sum(p1["fwd_bwd"][k] for k in STATIC),
        "grads": p1["grads_mib"],
        "activations": act[0] - slope * b0 + slope * scale,
        # unchunked, one of the copies is the forward's logits, already among the activations
        "loss_backward": (copies - (0 if chunk else 1)) * rows * p1["queue_length"] * 4 / MIB,
    }
    parts["estimate"] = max(sum(parts.values()), p1["opt"]["total"])
    parts["act_per_image_at_crop"] = slope
    return parts


def main(argv=None):
    p = argparse.ArgumentParser(prog="python -m tools.benchmark.memory", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--variants", nargs="+", required=True, help="cases, as the benchmark's")
    p.add_argument("--crop", type=int, default=96)
    p.add_argument("--batches", type=int, nargs=2, default=[1, 2])
    p.add_argument("--precisions", nargs="+", default=["fp32"], choices=["fp32", "bf16", "fp16"])
    p.add_argument("--target-crop", type=int, default=224)
    p.add_argument("--target-batch", type=int, default=32)
    p.add_argument("--target-chunk", type=int, default=None,
                   help="LOSS_CHUNK_ROWS at the target for chunked cases (default: the case's)")
    p.add_argument("--json", default=None, help="results file, rewritten after every case")
    p.add_argument("opts", nargs=argparse.REMAINDER, help="config overrides, KEY VALUE ...")
    a = p.parse_args(argv)
    rows, results, copies = [], [], {}
    for spec in a.variants:
        for prec in a.precisions:
            peaks = {}
            for b in a.batches:
                print(f"[memory] {spec} {prec} batch {b} ...", file=sys.stderr, flush=True)
                peaks[b] = peak_memory(parse_case(spec), a.crop, b, prec, opts=a.opts)
            chunk = peaks[b]["chunk_rows"] and (a.target_chunk or peaks[b]["chunk_rows"])
            if chunk not in copies:  # measured at a size where one queue is negligible
                copies[chunk] = info_nce_copies(chunk, rows=4 * (chunk or 1024),
                                                queue_length=1024)
            parts = extrapolate(peaks, a.crop, a.target_crop, a.target_batch, copies[chunk],
                                target_chunk=chunk)
            rows.append((spec, prec, *[f"{peaks[b]['fwd_bwd']['total']:.0f}" for b in a.batches],
                         f"{parts['act_per_image_at_crop']:.1f}",
                         *[f"{parts[k] / 1024:.1f}" for k in (
                             "static", "grads", "activations", "loss_backward", "estimate")]))
            results.append({"case": spec, "precision": prec, "crop": a.crop, "peaks": peaks,
                            "info_nce_copies": copies[chunk], "target_chunk": chunk,
                            "target": [a.target_crop, a.target_batch], "estimate_mib": parts})
            if a.json:
                with open(a.json, "w") as f:
                    json.dump({"args": vars(a), "results": results}, f, indent=1)
    from tabulate import tabulate

    t = f"{a.target_crop}px x {a.target_batch}"
    heads = ["case", "precision", *[f"peak MiB b{b}" for b in a.batches], "act. MiB/img",
             "static GiB", "grads GiB", f"act. GiB {t}", "loss bwd GiB", f"est. GiB {t}"]
    print(f"tensor memory of one step, measured at crop {a.crop} (MemTracker, torch "
          f"{torch.__version__}); InfoNCE backward copies: {copies}")
    print(tabulate(rows, headers=heads))
    return 0


if __name__ == "__main__":
    sys.exit(main())
