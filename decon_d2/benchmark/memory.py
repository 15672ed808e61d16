"""``python -m decon_d2.benchmark.memory``: peak tensor memory of a training step, by kind.

Device-independent: torch's ``MemTracker`` counts every tensor alive (parameters, gradients,
optimiser state, buffers, activations and temporaries), which is what
``torch.cuda.max_memory_allocated`` reports on a GPU minus allocator rounding and library
workspaces. So a CPU run at a small size measures the memory the same step needs on a GPU.

Two phases of the step are tracked separately, after one untracked step (which creates the
optimiser state): forward + backward (the engine's order: forward, ``zero_grad``, backward), and
the optimiser step + EMA update. ``--batches 1 2`` fits the forward/backward peak's
activations and temporaries as ``constant + slope x batch`` and extrapolates them to
``--target-batch`` images of ``--target-crop`` pixels per process (every feature map, and every
dense loss row count, grows by (target/crop)^2 exactly when both are multiples of 32); the
estimate adds parameters, buffers, optimiser state and *all* gradients (an upper bound: at the
peak some gradients do not exist yet), and is never below the optimiser phase's peak.
"""
import argparse
import json
import sys

import torch
from detectron2.utils.events import EventStorage

from decon_d2.engine.optimizer import build_optimizer
from decon_d2.engine.step import amp_dtype
from decon_d2.utils.testing import synthetic_batch

from .cases import bench_cfg, build_bench_model, parse_case

MIB = 2.0 ** 20
STATIC = ("param", "buffer", "opt")


def _tracked(fn, model, optimizer):
    """{kind: MiB} at the peak of ``fn()`` (MemTracker; kinds param, buffer, grad, opt, act, temp,
    total)."""
    from torch.distributed._tools.mem_tracker import MemTracker

    tracker = MemTracker()
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
    (snap,) = tracker.get_tracker_snapshot("peak").values()
    return {str(k).rsplit(".", 1)[-1].lower(): v / MIB for k, v in snap.items()}


def peak_memory(case, crop, batch, precision="fp32", device="cpu", opts=(), instant_test=False):
    """``{"fwd_bwd": {kind: MiB}, "opt": {kind: MiB}, "grads_mib": all gradients}`` for one
    step; ``instant_test``: the case's tiny config (smoke tests)."""
    cfg = bench_cfg(case, crop=crop, batch=batch, device=device, precision=precision, opts=opts,
                    instant_test=instant_test)
    model = build_bench_model(cfg, case)
    optimizer = build_optimizer(cfg, model)
    data, dtype = synthetic_batch(batch, crop), amp_dtype(cfg)
    m = cfg.SOLVER.DECON.TEACHER_BASE_MOMENTUM

    def forward_backward():
        with torch.autocast(torch.device(device).type, dtype=dtype, enabled=dtype is not None):
            loss = sum(v.float() for v in model(data).values())
        optimizer.zero_grad()
        loss.backward()

    def optimizer_step():
        optimizer.step()
        model.momentum_update(m)

    with EventStorage(0):
        forward_backward()
        optimizer_step()
        out = {"fwd_bwd": _tracked(forward_backward, model, optimizer),
               "opt": _tracked(optimizer_step, model, optimizer)}
    out["grads_mib"] = sum(p.numel() * p.element_size() for p in model.parameters()
                           if p.requires_grad) / MIB
    return out


def extrapolate(peaks, crop, target_crop, target_batch):
    """``{batch: peak_memory(...)}`` (two batches or more) -> (static MiB, activations constant,
    activations per image, estimate MiB at the target)."""
    (b0, p0), (b1, p1) = sorted(peaks.items())[:2]
    act = [p["fwd_bwd"]["act"] + p["fwd_bwd"]["temp"] for p in (p0, p1)]
    slope = (act[1] - act[0]) / (b1 - b0)
    const = act[0] - slope * b0
    static = sum(p1["fwd_bwd"][k] for k in STATIC) + p1["grads_mib"]
    est = static + const + slope * target_batch * (target_crop / crop) ** 2
    return static, const, slope, max(est, p1["opt"]["total"])


def main(argv=None):
    p = argparse.ArgumentParser(prog="python -m decon_d2.benchmark.memory", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--variants", nargs="+", required=True, help="cases, as the benchmark's")
    p.add_argument("--crop", type=int, default=96)
    p.add_argument("--batches", type=int, nargs=2, default=[1, 2])
    p.add_argument("--precisions", nargs="+", default=["fp32"], choices=["fp32", "bf16"])
    p.add_argument("--target-crop", type=int, default=224)
    p.add_argument("--target-batch", type=int, default=32)
    p.add_argument("--json", default=None, help="results file, rewritten after every case")
    p.add_argument("opts", nargs=argparse.REMAINDER, help="config overrides, KEY VALUE ...")
    a = p.parse_args(argv)
    rows, results = [], []
    for spec in a.variants:
        for prec in a.precisions:
            peaks = {}
            for b in a.batches:
                print(f"[memory] {spec} {prec} batch {b} ...", file=sys.stderr, flush=True)
                peaks[b] = peak_memory(parse_case(spec), a.crop, b, prec, opts=a.opts)
            static, const, slope, est = extrapolate(peaks, a.crop, a.target_crop, a.target_batch)
            rows.append((spec, prec, *[f"{peaks[b]['fwd_bwd']['total']:.0f}" for b in a.batches],
                         f"{peaks[a.batches[1]]['opt']['total']:.0f}", f"{static:.0f}",
                         f"{slope:.1f}", f"{est / 1024:.1f}"))
            results.append({"case": spec, "precision": prec, "crop": a.crop, "peaks": peaks,
                            "static_mib": static, "act_constant_mib": const,
                            "act_per_image_mib": slope, "estimate_gib": est / 1024,
                            "target": [a.target_crop, a.target_batch]})
            if a.json:
                with open(a.json, "w") as f:
                    json.dump({"args": vars(a), "results": results}, f, indent=1)
    from tabulate import tabulate

    heads = ["case", "precision", *[f"fwd+bwd peak MiB b{b}" for b in a.batches],
             "opt-step peak MiB", "weights+grads+opt+buffers MiB", "act. MiB/image",
             f"est. GiB at {a.target_crop}px x {a.target_batch}"]
    print(f"peak tensor memory of one step at crop {a.crop} (MemTracker, {torch.__version__})")
    print(tabulate(rows, headers=heads))
    return 0


if __name__ == "__main__":
    sys.exit(main())
