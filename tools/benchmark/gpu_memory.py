"""``python -m tools.benchmark.gpu_memory``: per-GPU peak memory of each recipe, before a GPU run.

Why: an out-of-memory at step one on a rented cluster costs a queue wait; the tensors a step
holds are device-independent, so they are measured on CPU (``tools.benchmark.memory``: weights,
optimiser state, gradients, activations at two small batches, extrapolated to the recipe's
per-GPU batch at 224 px), and what only a GPU job adds is put beside them, one column each:

(i)   CUDA context + cuBLAS/cuDNN workspaces: an *estimate*, ``CUDA_CONTEXT_GIB``;
(ii)  caching-allocator reserve and fragmentation: an *estimate*, ``ALLOCATOR_FRACTION`` of the
      allocated peak;
(iii) DDP's gradient buckets: *computed*, one more copy of the trainable parameters' gradients
      (decon_d2/engine/base_trainer.py builds DDP without ``gradient_as_bucket_view``);
(iv)  cross-process gathers: *computed* from shapes: DenseCL's shuffle-BN (the teacher's views
      and the maps its heads read, gathered from every rank) and SlotCon's gathered keys.

SlotCon's slot contrast compares every query slot with the keys of *all* ranks: its logits grow
with the per-GPU batch squared times the number of GPUs, so they are taken off the linear fit
and computed at the target from the slots per image (upper bound min(K, H x W): at random init
nearly every prototype is present) and the copies ``slot_contrast`` holds (measured).
"""
import argparse
import json
import sys

import torch

from decon_d2.config import build_cfg
from decon_d2.variants import get_variant
from tools.benchmark.cases import parse_case
from tools.benchmark.memory import MIB, extrapolate, info_nce_copies, peak_memory
from tools.paths import config_path

#: estimate, not measured: CUDA context (~0.5 GiB with lazy module loading) plus cuBLAS and
#: cuDNN workspaces on an H100 with torch 2.x, ~0.5-1 GiB together; the upper end is used
CUDA_CONTEXT_GIB = 1.0
#: estimate, not measured: memory the caching allocator reserves beyond the allocated peak
#: (block rounding, fragmentation), as a share of that peak
ALLOCATOR_FRACTION = 0.10
#: total memory per card as nvidia-smi reports it (A100 40GB, H100 80GB HBM3), MiB
CARDS = {"40 GB": 40960, "80 GB": 81559}
RECIPE_GPUS = 8  # configs/Base-*.yaml: "64 per GPU on 8 GPUs" / "32 per GPU on 8 GPUs"


def recipe(spec, gpus=RECIPE_GPUS):
    """(precision, per-GPU batch, global batch, SyncBN?) of a case's variant, from its config."""
    cfg = build_cfg(config_path(get_variant(parse_case(spec).variant).pretrain), [])
    amp = cfg.SOLVER.AMP
    prec = {"float16": "fp16", "bfloat16": "bf16"}[amp.PRECISION] if amp.ENABLED else "fp32"
    glob = cfg.SOLVER.IMS_PER_BATCH
    return prec, glob // gpus, glob, cfg.MODEL.RESNETS.NORM == "SyncBN"


def slot_contrast_copies(b=8, k=256, d=16):
    """(alive after the forward, peak of forward + backward) of ``slot_contrast`` in fp32
    matrices of queries x keys (every slot present; ``d`` small so the matrices dominate)."""
    from decon_d2.modeling.heads.slotcon.ops import slot_contrast
    from torch.distributed._tools.mem_tracker import MemTracker

    g = torch.Generator().manual_seed(0)
    q, kk = (torch.randn(b, k, d, generator=g) for _ in range(2))
    q.requires_grad_()
    present = torch.ones(b, k, dtype=torch.bool)
    predictor = torch.nn.Linear(d, d)
    unit = (b * k) ** 2 * 4
    out = []
    for backward in (False, True):
        tracker, held = MemTracker(), []
        with tracker:
            held.append(slot_contrast(q, kk, present, present, predictor, 0.2)[0])
            if backward:
                held.pop().backward()
        (snap,) = tracker.get_tracker_snapshot("peak" if backward else "current").values()
        out.append((next(v for key, v in snap.items() if str(key) == "Total")
                    - backward * q.numel() * 4) / unit)
    return tuple(out)


def slot_terms(calls, copies, crop, batch, world, measured=False, presence=None):
    """MiB of the slot contrast: logits alive after the forward, the backward's extra matrices
    (the largest call's) and the keys gathered from the other ranks. ``measured``: the calls'
    recorded counts (to take off the fit), else slots per image = the bound min(K, H x W) at
    ``crop``, or ``presence`` (per call: teacher slots per image, which bound its queries)."""
    kept, peak = copies
    logits, keys_mib, transient = [], 0.0, 0.0
    for i, c in enumerate(calls):
        per_image = min(c["k"], (crop // c["stride"]) ** 2)
        if presence is not None:
            per_image = min(per_image, presence[i])
        q, k = (c["queries"], c["keys"]) if measured else (batch * per_image,
                                                            world * batch * per_image)
        logits.append(q * k * 4 / MIB)
        keys_mib += (world - 1) * batch * per_image * c["d"] * 4 / MIB
        transient = max(transient, 2 * world * batch * c["k"] * c["d"] * 4 / MIB)
    return {"slot_logits": kept * sum(logits),
            "slot_backward": (peak - kept) * max(logits, default=0),
            "slot_gathers": keys_mib + transient if calls else 0.0}


def shuffle_gathers(peak, crop, batch, world, precision):
    """MiB held at once by MoCo's shuffle-BN on ``world`` ranks (decon_d2/modeling/dist.py):
    ``concat_all_gather`` holds every rank's tensor twice (the list and the concatenation);
    the views are fp32, the teacher's maps in the autocast dtype."""
    if not peak["teacher_shuffle"]["on"]:
        return 0.0
    elem = 4 if precision == "fp32" else 2
    views = 2 * world * batch * 3 * crop * crop * 4
    maps = max(2 * world * batch * ch * (crop // s) ** 2 * elem
               for ch, s in peak["levels"].values())
    return max(views, maps) / MIB


def gpu_estimate(peaks, crop, target_crop, batch, world, precision, copies, slot_copies,
                 target_chunk=None, presence=None):
    """{part: MiB} per GPU at ``batch`` images of ``target_crop`` px on ``world`` GPUs;
    ``target_chunk``: the InfoNCE chunk at the target (None: as measured); ``presence``: see
    ``slot_terms`` (None: the bound)."""
    last = peaks[max(peaks)]
    offsets = {b: slot_terms(p["slot_contrast"], slot_copies, crop, b, 1, True)["slot_logits"]
               for b, p in peaks.items()}
    parts = extrapolate(peaks, crop, target_crop, batch, copies, target_chunk=target_chunk,
                        act_offsets=offsets)
    slot = slot_terms(last["slot_contrast"], slot_copies, target_crop, batch, world,
                      presence=presence)
    out = {"weights_state": parts["static"], "grads": parts["grads"],
           "activations": parts["activations"],
           "loss": parts["loss_backward"] + slot["slot_logits"] + slot["slot_backward"]}
    out["tensors"] = max(sum(out.values()), last["opt"]["total"])
    out["gathers"] = slot["slot_gathers"] + shuffle_gathers(last, target_crop, batch, world,
                                                            precision)
    out["ddp_buckets"] = parts["grads"] if world > 1 else 0.0
    allocated = out["tensors"] + out["gathers"] + out["ddp_buckets"]
    out["allocator"] = ALLOCATOR_FRACTION * allocated
    out["cuda_context"] = CUDA_CONTEXT_GIB * 1024
    out["total"] = allocated + out["allocator"] + out["cuda_context"]
    return out


def slot_presence(case, crop, batch, precision):
    """Teacher slots present per image, per ``slot_contrast`` call, in a forward at ``crop``
    (random init, synthetic views): how far below min(K, H x W) the logits stay on day one."""
    from detectron2.utils.events import EventStorage

    from decon_d2.engine.step import amp_dtype
    from tools.benchmark.cases import bench_cfg, build_bench_model
    from tools.benchmark.memory import _slot_contrast_calls
    from tools.benchmark.synthetic_batch import synthetic_batch

    cfg = bench_cfg(case, crop=crop, batch=batch, device="cpu", precision=precision)
    model, dtype, calls = build_bench_model(cfg, case), amp_dtype(cfg), []
    with EventStorage(0), _slot_contrast_calls(calls), torch.no_grad(), \
            torch.autocast("cpu", dtype=dtype or torch.bfloat16, enabled=dtype is not None):
        model(synthetic_batch(batch, crop))
    return [c["keys"] / c["b"] for c in calls]


def verdicts(total_mib):
    return {card: total_mib <= mib for card, mib in CARDS.items()}


def more_gpus(estimate_at, glob, gpus, card_mib, most=64):
    """The fewest GPUs (doubling from ``gpus``, same global batch) whose per-GPU total fits
    ``card_mib``: ``(gpus, per-GPU batch, total MiB)`` or None. ``estimate_at(batch, world)``."""
    n = gpus
    while n <= most and glob % n == 0:
        total = estimate_at(glob // n, n)["total"]
        if total <= card_mib:
            return n, glob // n, total
        n *= 2
    return None


def _setting(spec, est, results, card, card_mib):
    """What to set on ``card`` when ``spec`` does not fit: a measured option case of the same
    variant that fits (its config keys), else more GPUs at the same global batch."""
    if est["total"] <= card_mib:
        return "fits"
    variant = parse_case(spec).variant
    for r in results:
        if r["case"] != spec and parse_case(r["case"]).variant == variant and r["fits"][card]:
            keys = " ".join(str(x) for x in parse_case(r["case"]).overrides())
            return f"{r['case']} ({keys})"
    alt = est["more_gpus"].get(card)
    if alt is None:
        return "none found"
    bn = "" if est["sync_bn"] else "; per-GPU BN: BN batch changes"
    return f"{alt[0]} GPUs x {alt[1]}/GPU ({alt[2] / 1024:.1f} GiB{bn})"


def main(argv=None):
    p = argparse.ArgumentParser(prog="python -m tools.benchmark.gpu_memory", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--variants", nargs="+", required=True, help="cases, as the benchmark's")
    p.add_argument("--crop", type=int, default=128)
    p.add_argument("--batches", type=int, nargs=2, default=[2, 4],
                   help="two batches where no slot contrast is skipped (< 2 queries: the "
                        "predictor does not run, and its absence would enter the fit)")
    p.add_argument("--target-crop", type=int, default=224)
    p.add_argument("--gpus", type=int, default=RECIPE_GPUS)
    p.add_argument("--fp16-as", default="bf16", choices=["bf16", "fp16"],
                   help="autocast dtype that measures an fp16 recipe: CPU fp16 kernels are "
                        "slow, bf16 holds tensors of the same sizes (same CPU autocast list)")
    p.add_argument("--measure-chunk", type=int, default=32,
                   help="LOSS_CHUNK_ROWS that measures a chunked case: at a small crop its own "
                        "chunk would split nothing (the logits would be kept)")
    p.add_argument("--presence-batch", type=int, default=2,
                   help="images of the forward at --target-crop that counts present slots")
    p.add_argument("--json", default=None, help="results file, rewritten after every case")
    a = p.parse_args(argv)
    slot_copies, copies, results = slot_contrast_copies(), {}, []
    for spec in a.variants:
        results.append(estimate_case(spec, a, slot_copies, copies))
        if a.json:
            with open(a.json, "w") as f:
                json.dump({"args": vars(a), "cuda_context_gib": CUDA_CONTEXT_GIB,
                           "allocator_fraction": ALLOCATOR_FRACTION, "cards_mib": CARDS,
                           "results": results}, f, indent=1)
    print(table(results, a))
    return 0


def estimate_case(spec, a, slot_copies, copies):
    """One case's measurement and estimate (``copies``: InfoNCE copies by chunk, filled in)."""
    prec, batch, glob, sync_bn = recipe(spec, a.gpus)
    measured_in = a.fp16_as if prec == "fp16" else prec
    case, peaks = parse_case(spec), {}
    chunk = case.chunk_rows
    case.chunk_rows = min(chunk, a.measure_chunk)
    for b in a.batches:
        print(f"[gpu_memory] {spec} {prec} batch {b} ...", file=sys.stderr, flush=True)
        peaks[b] = peak_memory(case, a.crop, b, measured_in)
        if any(c["queries"] < 2 for c in peaks[b]["slot_contrast"]):
            raise SystemExit(f"{spec}: a slot contrast was skipped at batch {b}; measure at "
                             "larger --batches")
    if chunk not in copies:  # as tools.benchmark.memory: one queue is negligible here
        copies[chunk] = info_nce_copies(chunk, rows=4 * (chunk or 1024), queue_length=1024)
    presence = None
    if peaks[b]["slot_contrast"]:
        presence = slot_presence(case, a.target_crop, a.presence_batch, measured_in)

    def at(n_batch, world, present=None):
        return gpu_estimate(peaks, a.crop, a.target_crop, n_batch, world, prec, copies[chunk],
                            slot_copies, target_chunk=chunk, presence=present)

    est = dict(at(batch, a.gpus), sync_bn=sync_bn)
    est["more_gpus"] = {c: more_gpus(at, glob, a.gpus, m) for c, m in CARDS.items()}
    return {"case": spec, "precision": prec, "measured_in": measured_in, "batch": batch,
            "gpus": a.gpus, "global_batch": glob, "crop": a.crop,
            "measured_chunk": case.chunk_rows, "peaks": peaks,
            "info_nce_copies": copies[chunk], "slot_contrast_copies": slot_copies,
            "estimate_mib": est, "fits": verdicts(est["total"]),
            "slots_per_image_at_target": presence,
            "estimate_at_presence_mib": presence and at(batch, a.gpus, presence)}


def table(results, a):
    from tabulate import tabulate

    rows = []
    for r in results:
        e = r["estimate_mib"]
        g = {k: f"{v / 1024:.1f}" for k, v in e.items() if isinstance(v, float)}
        rows.append([r["case"], r["precision"], f"{r['batch']} x {r['gpus']}",
                     g["weights_state"], g["grads"], g["activations"], g["loss"], g["tensors"],
                     g["cuda_context"], g["allocator"], g["ddp_buckets"], g["gathers"],
                     g["total"], *[_setting(r["case"], e, results, c, m)
                                   for c, m in CARDS.items()],
                     f"{r['estimate_at_presence_mib']['total'] / 1024:.1f}"
                     if r["estimate_at_presence_mib"] else "-"])
    heads = ["case", "prec.", "batch x GPUs", "weights+state", "grads", "activations",
             "loss", "tensors (measured+extr.)", "(i) context (est.)",
             f"(ii) allocator {ALLOCATOR_FRACTION:.0%} (est.)", "(iii) DDP buckets",
             "(iv) gathers", "total GiB", *CARDS, "total, slots present at target"]
    return (f"GiB per GPU at {a.target_crop} px; tensors measured at crop {a.crop}, batches "
            f"{a.batches} (MemTracker, torch {torch.__version__})\n" + tabulate(rows, heads))


if __name__ == "__main__":
    sys.exit(main())
