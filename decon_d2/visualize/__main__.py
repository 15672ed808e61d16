"""CLI: ``python -m decon_d2.visualize CKPT IMAGES... [--out slot_maps.png]``.

Draws, per image, the teacher's prototype assignment at res5 and at each decoder level, and a
PCA-to-RGB view of the res5 and p2 features, as one PNG grid (``slot_maps.py``). CKPT is a
decon-d2 pre-training checkpoint; its config is the ``config.yaml`` beside it (or ``--config``).
IMAGES are image files or folders of images. Exit status: 0 written, 1 unusable input, 2 usage.
"""
import argparse
import sys
from pathlib import Path

import torch
from PIL import Image

import decon_d2  # noqa: F401  (registers the meta-architecture)

from ..config import find_pretrain_config
from ..data.image_folder import list_images
from ..probe import load_images
from ..utils.atomic import atomic_write
from ..weights import WeightsReadError, read_torch
from .slot_maps import slot_map_grid


def build_parser():
    p = argparse.ArgumentParser(prog="python -m decon_d2.visualize",
                                description=__doc__.splitlines()[0])
    p.add_argument("checkpoint", help="pre-training checkpoint (.pth) with heads")
    p.add_argument("images", nargs="+", help="image files or folders")
    p.add_argument("--out", default="slot_maps.png", help="output PNG (default: slot_maps.png)")
    p.add_argument("--size", type=int, default=224, help="tile side in px (multiple of 32)")
    p.add_argument("--config", help="pre-training config (default: config.yaml beside CKPT)")
    p.add_argument("--student", action="store_true", help="draw the student instead")
    p.add_argument("--unsafe-load", action="store_true",
                   help="torch.load with weights_only=False (trusted files only)")
    return p


def _model(checkpoint, config, unsafe_load):
    from detectron2.modeling import build_model

    cfg = find_pretrain_config(checkpoint, config)
    if cfg is None:
        raise ValueError(f"no DeCon pre-training config for {checkpoint}: pass --config "
                         "(the config.yaml written into the run's OUTPUT_DIR)")
    cfg.defrost()
    cfg.MODEL.DEVICE = "cpu"
    model = build_model(cfg)
    state = read_torch(checkpoint, unsafe_load=unsafe_load).state_dict
    missing, unexpected = model.load_state_dict(state, strict=False)
    if missing or unexpected:
        raise ValueError(f"{checkpoint} does not match its config: missing {missing[:4]}, "
                         f"unexpected {unexpected[:4]}")
    return model


def main(argv=None) -> int:
    args = build_parser().parse_args(argv)
    if args.size % 32:
        print("decon-visualize: error: --size must be a multiple of 32", file=sys.stderr)
        return 2
    paths = []
    for item in args.images:
        found = list_images(item) if Path(item).is_dir() else [item]
        paths += found
    missing = [p for p in paths if not Path(p).is_file()]
    if missing or not paths:
        print(f"decon-visualize: error: no such image(s): {missing or args.images}",
              file=sys.stderr)
        return 2
    try:
        model = _model(args.checkpoint, args.config, args.unsafe_load)
    except (WeightsReadError, ValueError, FileNotFoundError) as e:
        print(f"decon-visualize: FAILED: {e}\nnothing written", file=sys.stderr)
        return 1
    images = load_images(paths, args.size)
    try:
        with torch.no_grad():
            grid = slot_map_grid(model, images, "student" if args.student else "teacher")
    except ValueError as e:
        print(f"decon-visualize: FAILED: {e}\nnothing written", file=sys.stderr)
        return 1
    with atomic_write(args.out, "wb") as f:
        Image.fromarray(grid).save(f, format="PNG")
    print(f"wrote {args.out} ({grid.shape[1]} x {grid.shape[0]} px, {len(paths)} image(s))")
    return 0


if __name__ == "__main__":
    sys.exit(main())
