"""Sections on what the device computes: the environment, CPU-vs-CUDA parity in fp32, and fp16
steps with the GradScaler as training runs them."""
import math
import platform
import sys

import torch

from decon_d2.engine.gpu_settings import gpu_settings, set_tf32
from tools.benchmark.device import device_name
from tools.benchmark.synthetic_batch import synthetic_batch
from tools.benchmark.timing import make_step
from tools.gpu_check.common import NO_DROPOUT, cfg_and_model, compare, fixed_batch, \
    loss_and_grads, release
from tools.gpu_check.runner import Failed

__all__ = ["env", "cpu_cuda_parity", "fp16_scaler"]

#: fp32 with TF32 off on both sides: only the order of summations differs
PARITY_TOLERANCE = {"loss": 1e-4, "grad": 1e-3}


def env(ctx):
    """Versions and the device: what every other number depends on."""
    import detectron2

    data = {"python": platform.python_version(), "executable": sys.executable,
            "torch": torch.__version__, "cuda": torch.version.cuda,
            "cudnn": torch.backends.cudnn.version()
            if torch.backends.cudnn.is_available() else None,
            "detectron2": detectron2.__version__, "cuda_available": torch.cuda.is_available(),
            "device_count": torch.cuda.device_count(), "device": device_name(ctx.device)
            if ctx.cuda or ctx.device == "cpu" else ctx.device,
            "threads": torch.get_num_threads(), "settings": gpu_settings(),
            "gloo": torch.distributed.is_gloo_available(),
            "nccl": torch.distributed.is_nccl_available()}
    if ctx.cuda:
        props = torch.cuda.get_device_properties(0)
        data.update(total_memory_gib=round(props.total_memory / 2**30, 2),
                    capability=f"{props.major}.{props.minor}",
                    multiprocessors=props.multi_processor_count)
        try:
            data["nccl_version"] = ".".join(map(str, torch.cuda.nccl.version()))
        except Exception as e:  # a build without NCCL: the nccl_world1 section says more
            data["nccl_version"] = f"unavailable ({type(e).__name__})"
        mem = f", {data['total_memory_gib']} GiB, sm {data['capability']}"
    else:
        mem = ""
    data["summary"] = (f"{data['device']}{mem}; python {data['python']}, torch {data['torch']}, "
                       f"CUDA {data['cuda']}, cuDNN {data['cudnn']}, detectron2 "
                       f"{data['detectron2']}")
    return data


def cpu_cuda_parity(ctx):
    """DeCon-ML's loss and gradients on CPU and on CUDA, fp32 with TF32 off, same weights and
    batch (dropout off: its masks are drawn per device)."""
    ctx.require_cuda()
    p = ctx.profile
    set_tf32(False, False)  # restored by the caller's backend_settings
    _, model = cfg_and_model("decon_ml", p, "cpu", p.parity_batch, opts=NO_DROPOUT)
    batch = fixed_batch(p.parity_batch, p.crop)
    # before the forward: it moves the centers and running statistics the next forward reads
    state = {k: v.clone() for k, v in model.state_dict().items()}
    cpu = loss_and_grads(model, model, batch)
    _, cuda_model = cfg_and_model("decon_ml", p, "cuda", p.parity_batch, opts=NO_DROPOUT)
    cuda_model.load_state_dict(state)
    gpu = loss_and_grads(cuda_model, cuda_model, batch)
    del model, cuda_model
    release("cuda")
    data = compare(gpu, cpu)
    data.update(batch=p.parity_batch, crop=p.crop, cpu_loss=cpu["total"], cuda_loss=gpu["total"],
                cpu_grad_norm=cpu["grad_norm"], cuda_grad_norm=gpu["grad_norm"],
                tolerance=PARITY_TOLERANCE)
    data["summary"] = (f"{p.parity_batch} x {p.crop}: loss rel {data['loss_rel_diff']:.1e} "
                       f"(terms {data['loss_terms_max_rel_diff']:.1e}), grad norm rel "
                       f"{data['grad_norm_rel_diff']:.1e}, per tensor max "
                       f"{data['grad_tensors_max_rel_diff']:.1e}")
    if data["loss_rel_diff"] > PARITY_TOLERANCE["loss"] or \
            data["grad_norm_rel_diff"] > PARITY_TOLERANCE["grad"]:
        raise Failed("CPU and CUDA differ beyond the tolerance", data)
    return data


def fp16_scaler(ctx):
    """A few steps of ``DeConStepTrainer`` (``tools.benchmark.timing.make_step``: the project's
    optimiser, float16 autocast, GradScaler, NaN guard) on the recipe's DeCon-ML."""
    p, device = ctx.profile, ("cuda" if ctx.cuda else "cpu")
    cfg, model = cfg_and_model("decon_ml+fp16", p, device, p.fp16_batch, precision="fp16")
    step = make_step(cfg, model, synthetic_batch(p.fp16_batch, p.crop))
    for _ in range(p.fp16_steps):
        step()
    history = step.storage.history
    losses = [v for v, _ in history("total_loss").values()]
    scales = [v for v, _ in history("amp/grad_scale").values()]
    finite_weights = all(bool(torch.isfinite(q).all()) for q in model.parameters())
    del model, step
    release(device)
    data = {"device": device, "batch": p.fp16_batch, "crop": p.crop, "steps": p.fp16_steps,
            "optimizer": cfg.SOLVER.DECON.OPTIMIZER, "losses": losses, "scales": scales,
            "scale": scales[-1] if scales else None, "finite_weights": finite_weights,
            "skipped_steps": sum(b < a for a, b in zip(scales, scales[1:])) + (
                bool(scales) and scales[0] < 65536.0)}
    data["applied_steps"] = p.fp16_steps - data["skipped_steps"]  # overflow steps change nothing
    ok = (len(losses) == len(scales) == p.fp16_steps and all(map(math.isfinite, losses))
          and all(math.isfinite(s) and s > 0 for s in scales) and finite_weights)
    data["summary"] = (f"{p.fp16_steps} steps {p.fp16_batch} x {p.crop} on {device}: losses "
                       + ", ".join(f"{v:.4g}" for v in losses) + f"; scale {data['scale']}, "
                       f"{data['skipped_steps']} overflow step(s) skipped, "
                       f"{data['applied_steps']} applied")
    if not ok:
        raise Failed("a loss, the scale or a weight is not finite", data)
    return data
