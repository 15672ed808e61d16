"""``run_case``: everything measured for one case, in the current process.

The parent runs each case in a fresh subprocess (``python -m tools.benchmark --_worker``) so
that the CPU peak RSS (monotone over a process) is that case's own, and a CUDA out-of-memory in
one case cannot disturb the next.
"""
import gc

import torch

from tools.benchmark.synthetic_batch import synthetic_batch

from tools.benchmark.cases import bench_cfg, build_bench_model, compile_projectors
from tools.benchmark.device import bf16_peak_flops, device_name
from tools.benchmark.flops import count_flops
from tools.benchmark.probes import probe_batched_views, probe_ema
from tools.benchmark.timing import make_step, time_steps


def _is_oom(e):
    return isinstance(e, torch.cuda.OutOfMemoryError) or "out of memory" in str(e).lower()


def _fits(cfg, model, batch):
    """One step at this batch: True, or False on out-of-memory (memory released)."""
    try:
        make_step(cfg, model, batch)()
        return True
    except RuntimeError as e:
        if not _is_oom(e):
            raise
        model.zero_grad(set_to_none=True)
        gc.collect()
        torch.cuda.empty_cache()
        return False


def search_batch(case, cfg_of, model, start, max_batch, crop):
    """Largest batch in start, 2*start, ... <= max_batch that runs a step (None if none does)."""
    best, b = None, start
    while b <= max_batch:
        if not _fits(cfg_of(b), model, synthetic_batch(b, crop)):
            break
        best, b = b, b * 2
    return best


def run_case(case, a):
    """Measure one case with the parsed CLI arguments ``a``; returns a JSON-able dict."""
    def cfg_of(batch):
        return bench_cfg(case, crop=a.crop, batch=batch, device=a.device,
                         precision=a.precision, opts=a.opts, config_dir=a.config_dir,
                         instant_test=a.instant_test)

    res = {"case": case.label, "variant": case.variant, "crop": a.crop,
           "precision": case.precision or a.precision, "device": device_name(a.device)}
    model = build_bench_model(cfg_of(a.batch), case)
    res["params_student_m"] = sum(p.numel() for p in model.student.parameters()) / 1e6
    if a.flops:
        fb = a.flop_batch or a.batch
        res["flops"] = count_flops(cfg_of(fb), model, synthetic_batch(fb, a.crop, seed=1))
        res["flops"]["counted_at_batch"] = fb
    if case.compile:
        compile_projectors(model)
    batch_size = a.batch
    if a.batch_search:
        batch_size = search_batch(case, cfg_of, model, a.batch, a.max_batch, a.crop)
        res["batch_search"] = {"start": a.batch, "max": a.max_batch, "largest_fitting": batch_size}
        if batch_size is None:
            res["error"] = "out of memory at the smallest batch"
            return res
    res["batch"] = batch_size
    if a.steps > 0:
        cfg = cfg_of(batch_size)
        batch = synthetic_batch(batch_size, a.crop)
        try:
            res["timing"] = time_steps(cfg, model, batch, a.steps, a.warmup)
        except RuntimeError as e:
            if not _is_oom(e):
                raise
            res["error"] = f"out of memory at batch {batch_size}"
            return res
        peak = a.peak_tflops * 1e12 if a.peak_tflops else bf16_peak_flops(res["device"])
        if "flops" in res and peak and torch.device(a.device).type == "cuda":
            achieved = res["flops"]["step"] * res["timing"]["images_per_s"]
            res["mfu"] = {"achieved_tflops": achieved / 1e12, "peak_tflops": peak / 1e12,
                          "utilisation": achieved / peak}
    if a.probes:
        views, _, _ = model.preprocess(synthetic_batch(batch_size, a.crop))
        res["probes"] = {"ema": probe_ema(model, a.device),
                         "batched_views": probe_batched_views(model, views, a.device)}
    return res
