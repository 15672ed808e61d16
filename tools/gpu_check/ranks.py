"""Sections with process groups: a world-1 NCCL group, and two ranks sharing one device.

Every group rendezvouses on ``tcp://127.0.0.1:<free port>`` (loopback only) in worker processes
started from a fork server (the parent may hold a CUDA context, which a fork cannot inherit),
joined with a deadline: a collective that never completes costs its timeout, not the run.

Two ranks on one GPU use gloo with CUDA tensors (NCCL refuses two ranks per device). With
``MODEL.DEVICE`` cuda the recipe's "SyncBN" resolves to ``torch.nn.SyncBatchNorm``
(``decon_d2/modeling/norm.py``); when that attempt fails or disagrees, the model is also built
as for CPU processes (naive sync BN, count-weighted for the slot predictor) and moved to CUDA.
"""
import datetime
import os
import socket
import time
import warnings

import torch
import torch.distributed as dist
import torch.multiprocessing as mp

from decon_d2.engine.gpu_settings import set_tf32
from tools.gpu_check.common import NO_DROPOUT, cfg_and_model, compare, fixed_batch, \
    loss_and_grads, release
from tools.gpu_check.runner import Failed

__all__ = ["nccl_world1", "two_ranks_one_gpu"]

#: CPU float64 is exact up to summation order; CUDA fp32 without TF32 is not
TOLERANCE = {"cpu": {"loss": 1e-9, "grad": 1e-7}, "cuda": {"loss": 1e-4, "grad": 1e-3}}


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _loopback_env():
    """Keep gloo's and NCCL's sockets on the loopback interface (no network on the device)."""
    if os.path.exists("/sys/class/net/lo"):
        os.environ.setdefault("GLOO_SOCKET_IFNAME", "lo")
        os.environ.setdefault("NCCL_SOCKET_IFNAME", "lo")


def run_workers(fn, args, nprocs, timeout):
    """``fn(rank, *args)`` in ``nprocs`` processes; kills them all after ``timeout`` s."""
    mp.get_context("forkserver").set_forkserver_preload([__name__])
    context = mp.start_processes(fn, args=args, nprocs=nprocs, start_method="forkserver",
                                 join=False)
    deadline = time.monotonic() + timeout
    try:
        while not context.join(timeout=max(0.0, min(1.0, deadline - time.monotonic()))):
            if time.monotonic() >= deadline:
                raise TimeoutError(f"{nprocs} worker(s) of {fn.__name__} still running after "
                                   f"{timeout:.0f} s")
    finally:  # a timeout, the run's deadline or a worker that died: none is left behind
        for p in context.processes:
            if p.is_alive():
                p.kill()
                p.join(5)


def _worker_timeout(ctx, cap):
    """Workers' deadline: ``cap`` s, or what is left of the budget (the run's own deadline)."""
    return max(5.0, min(cap, ctx.remaining() - 2))


def _saved(path):
    return torch.load(path, weights_only=False) if os.path.exists(path) else {
        "error": "the worker wrote no result"}


def _nccl_worker(rank, init, out):
    _loopback_env()
    result = {}
    try:
        torch.cuda.set_device(0)
        t0 = time.perf_counter()
        dist.init_process_group("nccl", init_method=init, rank=0, world_size=1,
                                timeout=datetime.timedelta(seconds=60))
        x = torch.arange(4.0, device="cuda")
        dist.all_reduce(x)
        gathered = [torch.empty_like(x)]
        dist.all_gather(gathered, x)
        flat = torch.empty(4, device="cuda")
        dist.all_gather_into_tensor(flat, x)
        torch.cuda.synchronize()
        expected = torch.arange(4.0)
        result = {"backend": dist.get_backend(), "nccl_version": torch.cuda.nccl.version(),
                  "all_reduce_ok": torch.equal(x.cpu(), expected),
                  "all_gather_ok": torch.equal(gathered[0].cpu(), expected),
                  "all_gather_into_tensor_ok": torch.equal(flat.cpu(), expected),
                  "seconds": time.perf_counter() - t0}
        dist.destroy_process_group()
        result["destroyed"] = not dist.is_initialized()
    except Exception as e:
        result["error"] = f"{type(e).__name__}: {e}"
    torch.save(result, out)


def nccl_world1(ctx):
    """A world-1 NCCL group on loopback: all_reduce and all_gather of CUDA tensors, destroy."""
    ctx.require_cuda()
    init = f"tcp://127.0.0.1:{free_port()}"
    out = os.path.join(ctx.tmp, "nccl.pt")
    run_workers(_nccl_worker, (init, out), 1, _worker_timeout(ctx, 90.0))
    r = _saved(out)
    if "error" in r or not all(r[k] for k in ("all_reduce_ok", "all_gather_ok",
                                                "all_gather_into_tensor_ok", "destroyed")):
        raise Failed(r.get("error", "a collective gave a wrong result"), r)
    r["summary"] = (f"{init}: all_reduce, all_gather, all_gather_into_tensor ok, NCCL "
                    f"{'.'.join(map(str, r['nccl_version']))}, {r['seconds']:.1f} s")
    return r


def _rank_worker(rank, world, spec):
    """One rank: the model of ``spec`` built in the group (norms resolved for it), the saved
    weights, forward + backward of its half of the batch through DDP."""
    from torch.nn.parallel import DistributedDataParallel

    _loopback_env()
    torch.set_num_threads(spec["threads"])
    result = {}
    try:
        dist.init_process_group("gloo", init_method=spec["init"], rank=rank, world_size=world,
                                timeout=datetime.timedelta(seconds=spec["collective_s"]))
        try:
            cuda = spec["device"] == "cuda"
            if cuda:
                torch.cuda.set_device(0)
                set_tf32(False, False)
            _, model = cfg_and_model("decon_ml", spec["profile"], spec["build_device"],
                                     spec["batch_size"], opts=NO_DROPOUT)
            model.load_state_dict(torch.load(spec["state"]))
            model.to(device=spec["device"], dtype=getattr(torch, spec["dtype"]))
            with warnings.catch_warnings():  # its successor is not in every torch this runs on
                warnings.filterwarnings("ignore", "`broadcast_buffers` is deprecated")
                net = DistributedDataParallel(model, device_ids=[0] if cuda else None,
                                              broadcast_buffers=False)
            per = spec["batch_size"] // world
            batch = torch.load(spec["batch"], weights_only=False)[rank * per:(rank + 1) * per]
            result = loss_and_grads(net, model, batch)
            result["norm_types"] = sorted({type(m).__name__ for m in model.modules() if isinstance(
                m, torch.nn.modules.batchnorm._BatchNorm)})
        finally:
            dist.destroy_process_group()
    except Exception as e:
        result["error"] = f"{type(e).__name__}: {str(e).splitlines()[0] if str(e) else ''}"
    torch.save(result, os.path.join(spec["dir"], f"{spec['name']}_rank{rank}.pt"))


def _attempt(ctx, spec, ref, name, build_device, timeout):
    spec = dict(spec, name=name, build_device=build_device, init=f"tcp://127.0.0.1:{free_port()}")
    run_workers(_rank_worker, (2, spec), 2, timeout)
    ranks = [_saved(os.path.join(ctx.tmp, f"{name}_rank{r}.pt")) for r in range(2)]
    errors = [f"rank {i}: {r['error']}" for i, r in enumerate(ranks) if "error" in r]
    if errors:
        return {"error": "; ".join(errors)}
    mean = {"losses": {k: sum(r["losses"][k] for r in ranks) / 2 for k in ref["losses"]},
            "total": sum(r["total"] for r in ranks) / 2, "grad_norm": ranks[0]["grad_norm"],
            "grad_norms": ranks[0]["grad_norms"]}
    out = compare(mean, ref)
    tol = TOLERANCE[spec["device"]]
    out.update(norm_types=ranks[0]["norm_types"], rank_losses=[r["total"] for r in ranks],
               mean_loss=mean["total"], rank_grad_norms=[r["grad_norm"] for r in ranks],
               ranks_agree=ranks[0]["grad_norms"] == ranks[1]["grad_norms"])
    out["agrees"] = (out["loss_rel_diff"] <= tol["loss"]
                     and out["grad_norm_rel_diff"] <= tol["grad"]
                     and out["grad_tensors_max_rel_diff"] <= 10 * tol["grad"]
                     and out["grad_tensor_counts"][0] == out["grad_tensor_counts"][1])
    return out


def two_ranks_one_gpu(ctx):
    """Two gloo ranks on halves of a fixed batch against one process on all of it: the mean
    over ranks of the loss and the DDP-averaged gradient norms (CPU: float64 on CPU tensors)."""
    p, device = ctx.profile, ("cuda" if ctx.cuda else "cpu")
    dtype = torch.float64 if device == "cpu" else torch.float32
    if ctx.cuda:
        set_tf32(False, False)  # restored by the caller's backend_settings
    _, model = cfg_and_model("decon_ml", p, device, p.ranks_batch, opts=NO_DROPOUT)
    state = os.path.join(ctx.tmp, "ranks_state.pt")
    torch.save({k: v.cpu() for k, v in model.state_dict().items()}, state)
    batch = fixed_batch(p.ranks_batch, p.crop)
    torch.save(batch, os.path.join(ctx.tmp, "ranks_batch.pt"))
    ref = loss_and_grads(model.to(dtype), model, batch)
    del model
    release(device)
    spec = {"profile": p, "device": device, "dtype": str(dtype).split(".")[1],
            "batch_size": p.ranks_batch, "state": state, "dir": ctx.tmp,
            "batch": os.path.join(ctx.tmp, "ranks_batch.pt"), "collective_s": 45,
            "threads": max(1, torch.get_num_threads() // 2)}
    data = {"device": device, "dtype": spec["dtype"], "global_batch": p.ranks_batch,
            "crop": p.crop, "one_process_loss": ref["total"], "one_process_grad_norm":
            ref["grad_norm"], "tolerance": TOLERANCE[device]}
    first = data["config_norms"] = _attempt(ctx, spec, ref, "config", device,
                                            _worker_timeout(ctx, 150.0))
    chosen = first
    if ctx.cuda and not first.get("agrees"):
        chosen = data["naive_sync_bn"] = _attempt(ctx, spec, ref, "naive", "cpu",
                                                  _worker_timeout(ctx, 150.0))
    ok = chosen.get("agrees", False)
    parts = [f"{name}: " + (r["error"][:90] if "error" in r else
                            f"{'/'.join(r['norm_types'])} loss rel {r['loss_rel_diff']:.1e}, "
                            f"grad rel {r['grad_norm_rel_diff']:.1e}")
             for name, r in (("config", first), ("naive", data.get("naive_sync_bn"))) if r]
    data["summary"] = f"{p.ranks_batch} x {p.crop} {spec['dtype']}; " + "; ".join(parts)
    if not ok:
        raise Failed("2-rank mean loss or averaged gradients differ from one process", data)
    return data
