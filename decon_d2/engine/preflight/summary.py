"""The one-screen summary every run prints first (and ``--dry-run`` prints alone)."""
from typing import List, Optional

__all__ = ["summary_lines"]


def _precision(cfg) -> str:
    if not cfg.SOLVER.AMP.ENABLED:
        return "fp32"
    return {"float16": "fp16 autocast + GradScaler", "bfloat16": "bf16 autocast"}.get(
        cfg.SOLVER.AMP.PRECISION, cfg.SOLVER.AMP.PRECISION)


def summary_lines(cfg, *, variant: str, processes: int, launcher: str, pretraining: bool,
                  schedule=None,
                  disk: Optional[dict] = None, memory: Optional[dict] = None,
                  warnings=()) -> List[str]:
    s = cfg.SOLVER
    lines = [f"variant      {variant} ({cfg.MODEL.META_ARCHITECTURE}), device {cfg.MODEL.DEVICE}, "
             f"{launcher}"]
    if schedule is not None:
        lines += [
            f"batch        global {schedule.global_batch} = {processes} process(es) x "
            f"{schedule.per_gpu_batch} per process",
            f"length       {schedule.max_iter:,} iterations = {schedule.epochs:g} epochs of "
            f"{schedule.dataset_size:,} images ({schedule.iters_per_epoch:,} iterations/epoch), "
            f"warm-up {schedule.warmup_iters:,}",
            f"lr           {schedule.lr:g} after scaling (BASE_LR {schedule.base_lr:g}, "
            f"{s.DECON.LR_SCALING}), optimiser {s.DECON.OPTIMIZER}",
        ]
    elif pretraining:
        lines.append(f"batch        global {s.IMS_PER_BATCH} over {processes} process(es); "
                     f"{s.DECON.EPOCHS:g} epochs (iterations and lr once DATASETS.TRAIN is "
                     f"readable), BASE_LR {s.BASE_LR:g} per 256 images")
    else:
        lines.append(f"batch        global {s.IMS_PER_BATCH} over {processes} process(es); "
                     f"{s.MAX_ITER:,} iterations, BASE_LR {s.BASE_LR:g}")
    keep = getattr(s.DECON, "CHECKPOINT_MAX_KEEP", 0)
    lines += [
        f"precision    {_precision(cfg)}; TF32 matmul {s.TF32.MATMUL}, conv {s.TF32.CONV}; "
        f"cudnn.benchmark {cfg.CUDNN_BENCHMARK}",
        f"checkpoints  every {s.CHECKPOINT_PERIOD:,} iterations, keep {keep or 'all'} + final",
        f"output       {cfg.OUTPUT_DIR}",
    ]
    if disk:
        lines.append(f"disk         one checkpoint {disk['checkpoint_gib']:.2f} GiB; the run needs "
                     f"up to {disk['need_gib']:.1f} GiB, {disk['free_gib']:.1f} GiB free")
    if memory:
        lines.append(f"GPU memory   {memory['text']}")
    lines += [f"warning      {w}" for w in warnings]
    return lines
