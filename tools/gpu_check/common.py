"""What the sections share: the sizes of a run (full or ``--tiny``), the backend switches they
set and restore, and one forward + backward that reports the losses and gradient norms.

Models, configs and batches come from ``tools.benchmark`` (``bench_cfg``, ``build_bench_model``,
``synthetic_batch``), so the check runs what the benchmark and training build.
"""
import contextlib
import dataclasses
import gc
import math

import torch
from detectron2.utils.events import EventStorage

from tools.benchmark.cases import bench_cfg, build_bench_model, parse_case
from tools.benchmark.synthetic_batch import synthetic_batch

#: DeCon-ML's skip dropout draws masks per process and per device: off wherever two runs are
#: compared (the comparisons are of everything else)
NO_DROPOUT = ["MODEL.DECON.SKIP_CHANNEL_DROPOUT", 0.0]


@dataclasses.dataclass(frozen=True)
class Profile:
    """Sizes of one run; ``cost_s``: the seconds a section is expected to take (budget)."""

    instant_test: bool
    crop: int
    ranks_batch: int        # global batch of two_ranks_one_gpu, split in two
    parity_batch: int
    fp16_batch: int
    fp16_steps: int
    recipe_batch: int       # per GPU, as the recipe (8 GPUs x 64)
    recipe_steps: int
    densecl_batch: int      # per GPU, as DenseCL's recipe (8 GPUs x 32)
    densecl_steps: int
    cost_s: dict


FULL = Profile(False, 224, 8, 4, 16, 8, 64, 5, 32, 3, cost_s={
    "env": 5, "nccl_world1": 30, "two_ranks_one_gpu": 120, "cpu_cuda_parity": 45,
    "fp16_scaler": 40, "recipe_step": 60, "recipe_extra": 45, "densecl_ml": 60,
    "densecl_extra": 45})
TINY = Profile(True, 64, 4, 2, 2, 3, 4, 2, 2, 2, cost_s={
    "env": 1, "nccl_world1": 10, "two_ranks_one_gpu": 40, "cpu_cuda_parity": 10,
    "fp16_scaler": 10, "recipe_step": 10, "recipe_extra": 5, "densecl_ml": 10,
    "densecl_extra": 5})


def cfg_and_model(spec, profile, device, batch, precision="fp32", opts=()):
    """The benchmark's config and model of case ``spec`` at this run's crop (tiny: the
    instant-test config)."""
    case = parse_case(spec)
    cfg = bench_cfg(case, crop=profile.crop, batch=batch, device=device, precision=precision,
                    opts=list(opts), instant_test=profile.instant_test)
    return cfg, build_bench_model(cfg, case)


def fixed_batch(n, crop):
    """The benchmark's synthetic batch, with one more flipped view and one more box shape, so
    every loss term runs whichever half a process gets."""
    batch = synthetic_batch(n, crop, seed=3)
    batch[1]["flip2"] = True
    batch[-1]["box2"] = torch.tensor([0.3, 0.1, 0.95, 1.0])
    return batch


def loss_and_grads(forward, model, batch):
    """One forward + backward of ``forward(batch)`` (the model or its DDP wrapper): the losses,
    their sum, the student's total gradient norm and one norm per gradient tensor."""
    model.zero_grad(set_to_none=True)
    with EventStorage(0):
        losses = forward(batch)
    total = sum(losses.values())
    total.backward()
    norms = [float(p.grad.detach().double().norm()) for p in model.parameters()
             if p.requires_grad and p.grad is not None]
    return {"losses": {k: float(v.detach()) for k, v in losses.items()},
            "total": float(total.detach()),
            "grad_norm": math.sqrt(sum(n * n for n in norms)), "grad_norms": norms}


def rel(a, b, floor=1e-12):
    """|a - b| relative to the larger of the two (0 when both are 0)."""
    return abs(a - b) / max(abs(a), abs(b), floor)


def compare(got, ref):
    """Relative differences of two ``loss_and_grads`` results (``got``'s losses may be means)."""
    per_tensor = [rel(a, b, floor=1e-6 * ref["grad_norm"])
                  for a, b in zip(got["grad_norms"], ref["grad_norms"])]
    return {
        "loss_rel_diff": rel(got["total"], ref["total"]),
        "loss_terms_max_rel_diff": max(rel(got["losses"][k], v, floor=1e-9)
                                       for k, v in ref["losses"].items()),
        "grad_norm_rel_diff": rel(got["grad_norm"], ref["grad_norm"]),
        "grad_tensors_max_rel_diff": max(per_tensor, default=0.0),
        "grad_tensors_compared": len(per_tensor),
        "grad_tensor_counts": [len(got["grad_norms"]), len(ref["grad_norms"])],
    }


@contextlib.contextmanager
def backend_settings():
    """Restore TF32 and cuDNN autotuning on exit, whatever a section set."""
    saved = (torch.backends.cuda.matmul.allow_tf32, torch.backends.cudnn.allow_tf32,
             torch.backends.cudnn.benchmark)
    try:
        yield
    finally:
        (torch.backends.cuda.matmul.allow_tf32, torch.backends.cudnn.allow_tf32,
         torch.backends.cudnn.benchmark) = saved


def release(device):
    """Give back what the last model held, so the next section's peak memory is its own."""
    gc.collect()
    if torch.device(device).type == "cuda":
        torch.cuda.empty_cache()
        torch.cuda.reset_peak_memory_stats()
