"""``time_steps``: median wall time of the real training step, as the trainer runs it.

The step is the engine's ``DeConStepTrainer.run_step`` (autocast, loss sum, backward, the NaN
guard with its host sync, optimiser step) followed by ``model.momentum_update`` (what
``MomentumTeacherHook.after_step`` calls), with the optimiser from ``build_optimizer`` (LARS in
the recipe). The loader yields the same synthetic batch forever, so data loading costs nothing.
"""
import itertools
import statistics

import torch
from detectron2.utils.events import EventStorage

from decon_d2.engine.optimizer import build_optimizer
from decon_d2.engine.step import DeConStepTrainer, amp_dtype

from tools.benchmark.device import current_rss_mib, peak_memory_mib, peak_reserved_mib, \
    reset_peak_memory, synchronize, timed


def make_step(cfg, model, batch):
    """A zero-argument callable running one full training step (and the EMA update)."""
    device = torch.device(cfg.MODEL.DEVICE)
    trainer = DeConStepTrainer(model, itertools.repeat(batch), build_optimizer(cfg, model),
                               precision=amp_dtype(cfg), device_type=device.type)
    m = cfg.SOLVER.DECON.TEACHER_BASE_MOMENTUM  # the cost of the update does not depend on m
    storage = EventStorage(0)

    def step():
        with storage:
            trainer.iter = storage.iter
            trainer.run_step()
            model.momentum_update(m)
            storage.iter += 1
        synchronize(device)

    step.optimizer = trainer.optimizer
    step.storage = storage  # the losses each step logged (``total_loss``, ...)
    return step


def time_steps(cfg, model, batch, steps, warmup=1):
    """Run ``warmup`` then ``steps`` timed steps; return times (s), median, images/s, memory."""
    device = cfg.MODEL.DEVICE
    step = make_step(cfg, model, batch)
    rss_before = current_rss_mib()
    reset_peak_memory(device)
    for _ in range(warmup):
        step()
    times = [timed(step, device) for _ in range(steps)]
    peak, kind = peak_memory_mib(device)
    reserved = peak_reserved_mib(device)
    # Parts of the step, timed once after it (gradients of the last step are still there).
    parts = {"optimizer_step_s": timed(step.optimizer.step, device),
             "ema_update_s": timed(lambda: model.momentum_update(0.99), device)} if times else {}
    median = statistics.median(times) if times else float("nan")
    return {
        "step_times_s": times,
        "median_step_s": median,
        "images_per_s": len(batch) / median if times else float("nan"),
        "peak_memory_mib": peak,
        "memory_kind": kind,
        "peak_reserved_mib": reserved,  # CUDA max reserved; None on CPU
        "rss_before_steps_mib": rss_before,
        **parts,
    }
