"""Images/s per data-loader worker of the two-view pipeline, and the workers a cluster needs.

    python -m tools.benchmark.loader --images 300              # photos written at 640x480
    python -m tools.benchmark.loader --folder datasets/... --step-rate 2.5

One worker = one process with one torch thread, mapping records one after another, as a
DataLoader worker does: ``TwoViewMapper`` (decode, two crops resized to ``INPUT.DECON.CROP_SIZE``,
flips, colour chain) at the recipe's config (configs/decon_pretrain.yaml). Needed workers per GPU =
per-GPU batch x GPU steps/s / (images/s per worker). The default step rate is an assumption to
replace with a measured one (``python -m tools.benchmark`` on the GPU): 2.0 steps/s of 64 images
per GPU (ResNet-50 DeCon-ML in fp16 on an A100-class GPU).
"""
import argparse
import math
import tempfile
import time
from pathlib import Path

import numpy as np
import torch
from PIL import Image

from decon_d2.config import build_cfg
from decon_d2.data import TwoViewMapper
from tools.paths import config_path

DEFAULT_STEP_RATE = 2.0


def write_jpegs(folder: Path, n: int, size=(480, 640), seed=0):
    """``n`` JPEGs of smooth gradients plus noise (photo-like compression), ``size`` = (h, w)."""
    rng = np.random.default_rng(seed)
    folder.mkdir(parents=True, exist_ok=True)
    h, w = size
    yy, xx = np.mgrid[0:h, 0:w]
    for i in range(n):
        base = rng.integers(0, 256, 3) * (xx[..., None] / w) + rng.integers(0, 256, 3) * (
            yy[..., None] / h)
        pixels = np.clip(base / 2 + rng.normal(0, 12, (h, w, 3)), 0, 255).astype(np.uint8)
        Image.fromarray(pixels).save(folder / f"{i:05d}.jpg", quality=90)
    return sorted(folder.glob("*.jpg"))


def images_per_second(mapper, files, warmup=10) -> float:
    """Mapped images per second, one thread, after ``warmup`` images."""
    records = [{"file_name": str(f), "image_id": i} for i, f in enumerate(files)]
    for r in records[:warmup]:
        mapper(r)
    start = time.perf_counter()
    for r in records[warmup:]:
        assert mapper(r) is not None, r["file_name"]
    return (len(records) - warmup) / (time.perf_counter() - start)


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--config-file", default=config_path("decon_pretrain.yaml"))
    p.add_argument("--folder", help="JPEG folder (default: --images photos written at 640x480)")
    p.add_argument("--images", type=int, default=300)
    p.add_argument("--gpus", type=int, default=8)
    p.add_argument("--step-rate", type=float, default=DEFAULT_STEP_RATE,
                   help="GPU optimisation steps per second (measure it; default: an assumption)")
    args = p.parse_args(argv)
    torch.set_num_threads(1)
    cfg = build_cfg(args.config_file)
    with tempfile.TemporaryDirectory() as tmp:
        if args.folder:
            files = sorted(Path(args.folder).rglob("*.jp*g"))[:args.images]
        else:
            files = write_jpegs(Path(tmp), args.images)
        if len(files) < 20:
            raise SystemExit(f"error: need at least 20 JPEGs, found {len(files)} in {args.folder}")
        rate = images_per_second(TwoViewMapper(cfg), files)
    per_gpu = cfg.SOLVER.IMS_PER_BATCH // args.gpus
    need = per_gpu * args.step_rate / rate
    print(f"two-view loader, crop {cfg.INPUT.DECON.CROP_SIZE}: {rate:.1f} images/s per worker "
          f"({len(files)} images)")
    print(f"{args.gpus} GPUs x {per_gpu} images x {args.step_rate:g} steps/s = "
          f"{args.gpus * per_gpu * args.step_rate:.0f} images/s: {math.ceil(need)} workers per GPU "
          f"(DATALOADER.NUM_WORKERS), {math.ceil(need) * args.gpus} CPU cores for loading")
    return rate


if __name__ == "__main__":
    main()
