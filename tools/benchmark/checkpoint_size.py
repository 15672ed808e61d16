"""``python -m tools.benchmark.checkpoint_size``: one checkpoint's size per config, and the disk
a run needs (docs/cluster.md).

    python -m tools.benchmark.checkpoint_size configs/decon_pretrain.yaml \
        --iterations 184800 --write /tmp/ck

Counted on the meta device (``decon_d2.engine.checkpoint_size``); with ``--write DIR`` the real
model and optimizer are built on the CPU, the optimizer state filled by one step of zero
gradients, and the checkpoint written as a run writes it (``DeConCheckpointer``), so the table
shows the file's size beside the count.
"""
import argparse
import os

import torch
from detectron2.modeling import build_model

from decon_d2.config import build_cfg
from decon_d2.engine.checkpoint import DeConCheckpointer
from decon_d2.engine.checkpoint_size import checkpoint_size
from decon_d2.engine.optimizer import build_optimizer

GIB = 1024 ** 3


def written_bytes(cfg, folder: str) -> int:
    """Build, take one zero-gradient step, save as a run does, and return the file's size."""
    cfg = cfg.clone()
    cfg.defrost()
    cfg.MODEL.DEVICE = "cpu"
    model = build_model(cfg)
    optimizer = build_optimizer(cfg, model)
    for p in model.parameters():
        if p.requires_grad:
            p.grad = torch.zeros_like(p)
    optimizer.step()
    os.makedirs(folder, exist_ok=True)
    ckpt = DeConCheckpointer(model, folder, optimizer=optimizer)
    ckpt.save("model_size_check", iteration=0)
    path = os.path.join(folder, "model_size_check.pth")
    size = os.path.getsize(path)
    os.unlink(path)
    os.unlink(os.path.join(folder, "last_checkpoint"))
    return size


def main(argv=None):
    p = argparse.ArgumentParser(prog="python -m tools.benchmark.checkpoint_size",
                                description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("configs", nargs="+")
    p.add_argument("--write", metavar="DIR", help="also write one checkpoint there (and delete it)")
    p.add_argument("--iterations", type=int, default=0,
                   help="the run's iterations (default SOLVER.MAX_ITER; an epoch-based recipe "
                        "derives them from the data set: give them here)")
    args = p.parse_args(argv)
    print("| config | tensors | trainable params | model state | optimizer state | counted | "
          "written | newest 3 + 1 being written + final | all periodic kept |")
    print("|---|---|---|---|---|---|---|---|---|")
    for path in args.configs:
        cfg = build_cfg(path, [])
        size = checkpoint_size(cfg)
        written = f"{written_bytes(cfg, args.write) / GIB:.3f} GiB" if args.write else "-"
        periodic = (args.iterations or cfg.SOLVER.MAX_ITER) // cfg.SOLVER.CHECKPOINT_PERIOD
        print(f"| {path} | {size.tensors} | {size.trainable_params / 1e6:.1f} M | "
              f"{size.model_bytes / GIB:.3f} GiB | {size.optimizer_bytes / GIB:.3f} GiB | "
              f"{size.total_bytes / GIB:.3f} GiB | {written} | "
              f"{size.run_bytes(3, periodic) / GIB:.1f} GiB | "
              f"{size.run_bytes(0, periodic) / GIB:.1f} GiB ({periodic} files) |")


if __name__ == "__main__":
    main()
