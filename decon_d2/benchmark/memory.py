"""``python -m decon_d2.benchmark.memory``: peak tensor memory of one training step, by kind.

Device-independent: torch's ``MemTracker`` counts every tensor alive during the step (parameters,
gradients, optimiser state, buffers, activations and temporaries, forward and backward), which
is what ``torch.cuda.max_memory_allocated`` reports on a GPU minus allocator rounding and library
workspaces. So a CPU run at a small size measures the GPU memory the same step would need.

``--batches 1 2`` fits ``peak = constant + slope x batch`` per case (weights, gradients,
optimiser state, queues and loss chunks are the constant; activations the slope) and
extrapolates to ``--target-batch`` images of ``--target-crop`` pixels per process: every feature
map grows by (target/crop)^2 exactly when both are multiples of 32, and so do the dense loss rows.
"""
import argparse
import json
import sys

import torch

from decon_d2.utils.testing import synthetic_batch

from .cases import bench_cfg, build_bench_model, parse_case
from .timing import make_step

MIB = 2.0 ** 20


def peak_memory(case, crop, batch, precision="fp32", device="cpu", opts=()):
    """{kind: MiB} at the peak of the second training step (the first creates optimiser state)."""
    from torch.distributed._tools.mem_tracker import MemTracker

    cfg = bench_cfg(case, crop=crop, batch=batch, device=device, precision=precision, opts=opts)
    model = build_bench_model(cfg, case)
    step = make_step(cfg, model, synthetic_batch(batch, crop))
    step()
    tracker = MemTracker()
    # MemTracker hooks every parameter's gradient; the frozen teacher's must accept a hook (it
    # runs under no_grad throughout, so it still records no graph and gets no gradient).
    frozen = [q for q in model.parameters() if not q.requires_grad]
    for q in frozen:
        q.requires_grad_(True)
    try:
        tracker.track_external(model, step.optimizer)
        with tracker:
            step()
    finally:
        for q in frozen:
            q.requires_grad_(False)
    (snap,) = tracker.get_tracker_snapshot("peak").values()
    return {str(k).rsplit(".", 1)[-1].lower(): v / MIB for k, v in snap.items()}


def extrapolate(peaks, crop, target_crop, target_batch):
    """``{batch: total MiB}`` (two batches or more) -> (constant, slope per image, estimate MiB)."""
    (b0, p0), (b1, p1) = sorted(peaks.items())[:2]
    slope = (p1 - p0) / (b1 - b0)
    const = p0 - slope * b0
    return const, slope, const + slope * target_batch * (target_crop / crop) ** 2


def main(argv=None):
    p = argparse.ArgumentParser(prog="python -m decon_d2.benchmark.memory", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--variants", nargs="+", required=True, help="cases, as the benchmark's")
    p.add_argument("--crop", type=int, default=96)
    p.add_argument("--batches", type=int, nargs="+", default=[1, 2])
    p.add_argument("--precisions", nargs="+", default=["fp32"], choices=["fp32", "bf16", "fp16"])
    p.add_argument("--target-crop", type=int, default=224)
    p.add_argument("--target-batch", type=int, default=32)
    p.add_argument("--json", default=None)
    p.add_argument("opts", nargs=argparse.REMAINDER, help="config overrides, KEY VALUE ...")
    a = p.parse_args(argv)
    rows, results = [], []
    for spec in a.variants:
        for prec in a.precisions:
            peaks = {}
            for b in a.batches:
                print(f"[memory] {spec} {prec} batch {b} ...", file=sys.stderr, flush=True)
                kinds = peak_memory(parse_case(spec), a.crop, b, prec, opts=a.opts)
                peaks[b] = kinds["total"]
                results.append({"case": spec, "precision": prec, "crop": a.crop, "batch": b,
                                "peak_mib": kinds})
            const, slope, est = extrapolate(peaks, a.crop, a.target_crop, a.target_batch)
            rows.append((spec, prec, *[f"{peaks[b]:.0f}" for b in a.batches], f"{const:.0f}",
                         f"{slope:.0f}", f"{est / 1024:.1f}"))
            results.append({"case": spec, "precision": prec, "constant_mib": const,
                            "per_image_mib": slope, "estimate_gib": est / 1024,
                            "target": [a.target_crop, a.target_batch]})
    from tabulate import tabulate

    heads = ["case", "precision", *[f"peak MiB b{b}" for b in a.batches], "constant MiB",
             "MiB/image", f"est. GiB at {a.target_crop}px x {a.target_batch}"]
    print(f"peak tensor memory of one step at crop {a.crop} (MemTracker, CPU)")
    print(tabulate(rows, headers=heads))
    if a.json:
        with open(a.json, "w") as f:
            json.dump({"args": vars(a), "results": results}, f, indent=1)
    return 0


if __name__ == "__main__":
    sys.exit(main())
