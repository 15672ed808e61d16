"""GPU memory: the recipe's per-GPU estimate against the card's memory, before any process
starts; where it does not fit, the memory options and the per-GPU batch that fit.

The estimates are docs/benchmarks.md's table "GPU memory per recipe" (CPU tensor memory at a
small size, extrapolated, plus CUDA overheads; upper bounds), kept here per recipe as a fixed
part (weights, state and gradients with the allocator's 10 %, the CUDA context, DDP's buckets,
the gathers) and a part per image on the GPU (activations and loss matrices with the
allocator's 10 %), both at the recipe's 224 px and global batch: the slot-contrast logits grow
with the queries on the GPU times the keys of the global batch, so per GPU they are linear in
the per-GPU batch at a fixed global batch. Another crop scales the per-image part by
(crop / 224)^2 (an approximation). They are estimates until a GPU run measures them (the GPU
check); a user who measured otherwise skips this check with ``$DECON_SKIP_GPU_MEMORY_CHECK=1``.
"""
import os
import subprocess
from typing import List, Optional, Tuple

import torch

from decon_d2.variants import variant_name

from .problems import Problem

__all__ = ["ESTIMATES", "estimate_gib", "check_gpu_memory", "card_gib"]

GIB = 2.0 ** 30
#: (variant, precision) -> (fixed GiB, GiB per image at 224 px), from docs/benchmarks.md's table
#: (fixed = 1.1 x (weights+state + grads) + context + DDP + gathers; per image = 1.1 x
#: (activations + loss) / images per GPU). DenseCL variants: with their recipes' options.
ESTIMATES = {
    ("slotcon", "float16"): (2.7, 1.1 * (5.7 + 1.2) / 64),
    ("decon_sl", "float16"): (3.55, 1.1 * (31.7 + 33.2) / 64),
    ("decon_ml", "float16"): (5.89, 1.1 * (42.3 + 60.3) / 64),
    ("decon_ml+mem", "float16"): (5.89, 1.1 * (16.7 + 60.3) / 64),
    ("densecl", "float32"): (1.95, 1.1 * (3.0 + 1.1) / 32),
    ("decon_densecl_sl", "float32"): (3.26, 1.1 * (3.7 + 5.0) / 32),
    ("decon_densecl_ml", "float32"): (3.8, 1.1 * (3.0 + 5.0) / 32),
}
SKIP_ENV = "DECON_SKIP_GPU_MEMORY_CHECK"
#: the memory options, as config keys (docs/benchmarks.md), and the variant they were measured on
MEMORY_OPTIONS = ("MODEL.DECON.SLOTCON.PROJ_RECOMPUTE_NORM_ACT True "
                  "MODEL.DECON.BACKBONE_RECOMPUTE True")
#: the estimate must stay below this share of the card: all of it, as the estimates are upper
#: bounds with the allocator's share and the CUDA context counted (docs/benchmarks.md's verdicts)
HEADROOM = 1.0


def _precision(cfg) -> str:
    return cfg.SOLVER.AMP.PRECISION if cfg.SOLVER.AMP.ENABLED else "float32"


def estimate_gib(variant: str, precision: str, per_gpu_batch: int, crop: int,
                 memory_options: bool = False) -> Optional[float]:
    key = (variant + ("+mem" if memory_options else ""), precision)
    if key not in ESTIMATES:
        return None
    fixed, per_image = ESTIMATES[key]
    return fixed + per_image * per_gpu_batch * (crop / 224.0) ** 2


def card_gib() -> float:
    """The first visible card's memory, from nvidia-smi when it answers: a CUDA context in the
    launching process would hold ~0.5 GiB of rank 0's card for the whole run."""
    first = os.environ.get("CUDA_VISIBLE_DEVICES", "0").split(",")[0].strip() or "0"
    try:
        out = subprocess.run(["nvidia-smi", "-i", first, "--query-gpu=memory.total",
                              "--format=csv,noheader,nounits"], capture_output=True, text=True,
                             timeout=20, check=True).stdout
        return float(out.split()[0]) / 1024.0
    except (OSError, subprocess.SubprocessError, ValueError, IndexError):
        return torch.cuda.get_device_properties(torch.cuda.current_device()).total_memory / GIB


def check_gpu_memory(cfg, per_gpu_batch: int, processes: int,
                     card: Optional[float] = None) -> Tuple[List[Problem], Optional[dict]]:
    d = cfg.MODEL.DECON
    variant = variant_name(d.HEAD.NAME, d.DECODER_TYPE, d.DECODER_LEVELS)
    crop, precision = cfg.INPUT.DECON.CROP_SIZE, _precision(cfg)
    options = bool(getattr(d.SLOTCON, "PROJ_RECOMPUTE_NORM_ACT", False)
                   and getattr(d, "BACKBONE_RECOMPUTE", False))
    need = estimate_gib(variant, precision, per_gpu_batch, crop, options)
    if os.environ.get(SKIP_ENV) == "1":
        return [], {"text": f"not checked (${SKIP_ENV}=1)"}
    if need is None:
        return [], {"text": f"no estimate for {variant} in {precision} (docs/benchmarks.md)"}
    card = card_gib() if card is None else card
    facts = {"need_gib": need, "card_gib": card,
             "text": f"estimated {need:.1f} GiB per GPU at {per_gpu_batch} x {crop} px "
                     f"({precision}); this card has {card:.1f} GiB"}
    if need <= HEADROOM * card:
        return [], facts
    fixes = []
    if not options and (estimate_gib(variant, precision, per_gpu_batch, crop, True) or 1e9) \
            <= HEADROOM * card:
        fixes.append(f"turn on the memory options (same numbers): {MEMORY_OPTIONS}")
    batch = per_gpu_batch
    while batch > 1 and estimate_gib(variant, precision, batch, crop, options) > HEADROOM * card:
        batch //= 2
    if batch < per_gpu_batch:
        gpus = processes * per_gpu_batch // batch
        fixes.append(f"run on {gpus} GPUs ({batch} per GPU) with SOLVER.IMS_PER_BATCH unchanged: "
                     f"the same recipe (SyncBN keeps the global batch's statistics)")
    return [Problem(
        f"the recipe needs about {need:.1f} GiB per GPU (an estimate, an upper bound), more than "
        f"this card's {card:.1f} GiB",
        f"{variant}, {per_gpu_batch} images x {crop} px per GPU, {precision}",
        "; or ".join(fixes + [f"a card with more memory; if a GPU run showed that it fits, skip "
                              f"this check with {SKIP_ENV}=1"]))], facts
