"""The GEMM roofline of a run: what a plain matrix product of the projector's shape achieves here.

DeCon's step is dominated by its projectors' per-pixel matrix products (rows = pixels of both
views, hidden x hidden weights; docs/benchmarks.md). The best throughput a plain ``torch.mm`` of
that shape reaches on this device, in fp32 and in the run's autocast dtype, measured in the same
run, is the reference every case's achieved FLOP/s is divided by: it moves with the machine (CPU
model, threads, other load), so only this ratio compares across machines.
"""
import torch

from tools.benchmark.device import timed

__all__ = ["projector_gemm_shape", "gemm_flops_per_s", "measure_rooflines"]

DTYPES = {"fp32": torch.float32, "bf16": torch.bfloat16, "fp16": torch.float16}


def projector_gemm_shape(batch, crop, hidden=4096, views=2):
    """(M, K, N) of the p2 projector's hidden layer: M = batch x views x (crop / 4)^2 pixels."""
    return batch * views * (crop // 4) ** 2, hidden, hidden


def gemm_flops_per_s(m, k, n, dtype, device, repeats=3):
    """Best FLOP/s (2 per multiply-add) of ``(m x k) @ (k x n)`` over ``repeats`` runs after one
    warm-up (the best run is the roofline: load on a shared machine only slows runs down)."""
    g = torch.Generator(device=device).manual_seed(0)
    a = torch.randn(m, k, device=device, generator=g).to(dtype)
    b = torch.randn(k, n, device=device, generator=g).to(dtype)
    torch.mm(a, b)
    best = min(timed(lambda: torch.mm(a, b), device) for _ in range(repeats))
    return 2.0 * m * k * n / best


def measure_rooflines(shape, precisions, device, repeats=3):
    """{precision: FLOP/s} at ``shape`` for fp32 and every precision of the run."""
    names = ["fp32"] + sorted(set(precisions) - {"fp32"})
    out = {}
    for name in names:
        try:
            out[name] = gemm_flops_per_s(*shape, DTYPES[name], device, repeats)
        except RuntimeError as e:  # e.g. a dtype the device cannot multiply
            out[name] = None
            print(f"[benchmark] no {name} GEMM on {device}: {e}")
    return out
