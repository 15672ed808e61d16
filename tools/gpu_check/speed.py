"""Sections that time the recipes' steps (``tools.benchmark.timing.time_steps``: the trainer's
step, the EMA update, a synthetic batch) with CUDA's peak allocated *and* reserved memory: the
allocator's reserve is what a card must hold, the allocated peak what the tensors need."""
import torch

from decon_d2.engine.gpu_settings import apply_gpu_settings, gpu_settings
from tools.benchmark.synthetic_batch import synthetic_batch
from tools.benchmark.timing import time_steps
from tools.gpu_check.common import cfg_and_model, release
from tools.gpu_check.runner import Failed

__all__ = ["recipe_step", "densecl_ml", "RECIPE_VARIANTS", "DENSECL_CASE"]

#: the recipe's step first; the others when the budget allows
RECIPE_VARIANTS = ("decon_ml", "slotcon", "decon_sl")
#: DeCon-ML-DenseCL with the memory options its recipe turns on (docs/benchmarks.md)
DENSECL_CASE = "decon_densecl_ml+chunk4096+ckpt"


def _timed(cfg, model, batch, steps, warmup):
    t = time_steps(cfg, model, synthetic_batch(batch, cfg.INPUT.DECON.CROP_SIZE), steps, warmup)
    return {"images_per_s": t["images_per_s"], "median_step_s": t["median_step_s"],
            "max_allocated_mib": t["peak_memory_mib"], "max_reserved_mib": t["peak_reserved_mib"]}


def _line(name, r):
    if "skipped" in r:
        return f"{name}: skipped ({r['skipped']})"
    if "images_per_s" not in r:
        return f"{name}: {r.get('error', 'no step ran')[:80]}"
    batch = f" at batch {r['batch']} ({r['error'][:40]} at the full batch)" if "error" in r else ""
    return (f"{name}{batch} {r['images_per_s']:.0f} img/s, {r['max_allocated_mib'] / 1024:.1f}/"
            f"{r['max_reserved_mib'] / 1024:.1f} GiB alloc/reserved")


def recipe_step(ctx):
    """Each variant's step at the recipe's per-GPU batch in fp16, with the GPU settings that
    training applies (``SOLVER.TF32``, ``CUDNN_BENCHMARK``)."""
    ctx.require_cuda()
    p = ctx.profile
    data = {"batch": p.recipe_batch, "crop": p.crop, "precision": "fp16", "steps": p.recipe_steps}
    for i, variant in enumerate(RECIPE_VARIANTS):
        if i and not ctx.affords("recipe_extra"):
            data[variant] = {"skipped": "budget kept for the later sections"}
            continue
        # DeCon-ML's estimate at 64 x 224 exceeds an 80 GB card (docs/benchmarks.md): on out of
        # memory, the half batch (the estimate's 16-GPU split) is measured too
        halves = (p.recipe_batch, p.recipe_batch // 2) if i == 0 else (p.recipe_batch,)
        for batch in halves:
            model = None
            try:
                cfg, model = cfg_and_model(variant + "+fp16", p, "cuda", batch, precision="fp16")
                apply_gpu_settings(cfg)  # restored by the caller's backend_settings
                torch.backends.cudnn.benchmark = bool(cfg.CUDNN_BENCHMARK)
                data[variant] = dict(_timed(cfg, model, batch, p.recipe_steps, 2), batch=batch,
                                     settings=gpu_settings(), **data.get(variant, {}))
                break
            except RuntimeError as e:  # out of memory or a kernel error: go on
                data[variant] = {f"error_at_{batch}" if batch != p.recipe_batch else "error":
                                 f"{type(e).__name__}: {str(e).splitlines()[0]}",
                                 **data.get(variant, {})}
                if not isinstance(e, torch.cuda.OutOfMemoryError):
                    break
            finally:
                model = None
                release("cuda")
    data["summary"] = f"{p.recipe_batch} x {p.crop} fp16: " + "; ".join(
        _line(v, data[v]) for v in RECIPE_VARIANTS)
    first = data[RECIPE_VARIANTS[0]]
    if "images_per_s" not in first:
        raise Failed(first.get("error", "no step ran"), data)
    return data


def densecl_ml(ctx):
    """DeCon-ML-DenseCL with its recipe's memory options at its recipe's 32 images per GPU in
    fp32 (DenseCL's recipe has no AMP), TF32 for matrix products off (the recipe) and on."""
    ctx.require_cuda()
    p = ctx.profile
    cfg, model = cfg_and_model(DENSECL_CASE, p, "cuda", p.densecl_batch)
    data = {"case": DENSECL_CASE, "batch": p.densecl_batch, "crop": p.crop, "precision": "fp32",
            "steps": p.densecl_steps}
    for tf32 in (False, True):
        key = f"tf32_matmul_{'on' if tf32 else 'off'}"
        if tf32 and not ctx.affords("densecl_extra"):
            data[key] = {"skipped": "budget kept for the later sections"}
            continue
        apply_gpu_settings(cfg)  # restored by the caller's backend_settings
        torch.backends.cuda.matmul.allow_tf32 = tf32
        release("cuda")
        try:
            data[key] = dict(_timed(cfg, model, p.densecl_batch, p.densecl_steps, 1),
                             settings=gpu_settings())
        except RuntimeError as e:
            data[key] = {"error": f"{type(e).__name__}: {str(e).splitlines()[0]}"}
    model = None
    release("cuda")
    data["summary"] = f"{p.densecl_batch} x {p.crop} fp32: " + "; ".join(
        _line(k, data[k]) for k in ("tf32_matmul_off", "tf32_matmul_on"))
    if "error" in data["tf32_matmul_off"]:
        raise Failed(data["tf32_matmul_off"]["error"], data)
    return data
