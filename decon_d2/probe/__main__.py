"""CLI: ``python -m decon_d2.probe --weights W [--weights W ...] --train NAME --val NAME``.

Prints one row per weights (mIoU, foreground mIoU, pixel accuracy per level) and writes the same
as JSON with ``--out``. Exit status: 0 done; 1 the weights or data could not be used faithfully
(nothing written); 2 bad command line.
"""
import argparse
import logging
import sys
import time

import decon_d2  # noqa: F401  (registers the project's data sets)

from ..data import register_declared_datasets
from ..config import build_cfg
from ..utils.atomic import atomic_write
from .data import load_probe_set
from .linear import ProbeSettings
from .report import format_table, to_json
from .bn_stats import reestimate_bn
from .run import probe_features
from .weights import LEVELS, ProbeWeightsError, load_probe_backbone

logger = logging.getLogger("decon_d2.probe")


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m decon_d2.probe",
                                description=__doc__.splitlines()[0])
    p.add_argument("--weights", action="append", required=True, metavar="W",
                   help="repeatable: a pre-training checkpoint, a converted .pkl, any file "
                        "decon-convert reads, or random[:SEED] (Detectron2's init)")
    p.add_argument("--random-depth", type=int, default=50, choices=(18, 34, 50, 101, 152),
                   help="ResNet depth of the random[:SEED] rows (default 50)")
    p.add_argument("--random-fpn-channels", type=int, default=256,
                   help="FPN width of the random[:SEED] rows (default 256)")
    p.add_argument("--branch", choices=("teacher", "student"), default=None,
                   help="network of two-branch checkpoints to probe (default: the one the "
                        "converter exports: the teacher, the student for DenseCL heads)")
    p.add_argument("--student", action="store_const", const="student", dest="branch",
                   help="same as --branch student")
    p.add_argument("--train", required=True,
                   help="registered data set(s) to fit the probe on (comma-separated: joined)")
    p.add_argument("--val", required=True, help="registered data set(s) to score it on")
    p.add_argument("--config-file", metavar="YAML",
                   help="register the data sets this config declares (DATASETS.DECON.*: your "
                        "own labelled sets) before looking up --train/--val")
    p.add_argument("--levels", nargs="+", default=["res5", "p2"], choices=LEVELS,
                   help="feature levels (default: res5 p2)")
    p.add_argument("--size", type=int, default=224, help="images and labels resized to SIZE^2")
    p.add_argument("--bn-reestimate", action="store_true",
                   help="replace every row's BatchNorm statistics by those of the --train images "
                        "at --size before probing (weights untouched; docs/probe.md)")
    p.add_argument("--max-images", type=int, default=0,
                   help="use the first N records of each set (0 = all)")
    d = ProbeSettings()
    p.add_argument("--epochs", type=int, default=d.epochs)
    p.add_argument("--lr", type=float, default=d.lr, help="Adam step size (cosine-decayed)")
    p.add_argument("--batch-size", type=int, default=d.batch_size)
    p.add_argument("--points", type=int, default=d.points,
                   help="label pixels per image and epoch the training loss is taken at")
    p.add_argument("--seed", type=int, default=d.seed, help="seed of the order and the points")
    p.add_argument("--out", help="write the results as JSON here")
    p.add_argument("--unsafe-load", action="store_true",
                   help="torch.load with weights_only=False (trusted files only)")
    return p


def main(argv=None) -> int:
    args = build_parser().parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="[decon-probe] %(message)s")
    if args.size % 32:
        print(f"decon-probe: error: --size {args.size} must be a multiple of 32", file=sys.stderr)
        return 2
    settings = ProbeSettings(epochs=args.epochs, lr=args.lr, batch_size=args.batch_size,
                             points=args.points, seed=args.seed)
    branch = args.branch
    t0 = time.perf_counter()
    try:
        backbones = [load_probe_backbone(w, branch=branch, unsafe_load=args.unsafe_load,
                                         random_geometry=(args.random_depth,
                                                          args.random_fpn_channels))
                     for w in args.weights]  # all checked before any long work
        if args.config_file:
            register_declared_datasets(build_cfg(args.config_file))
        train = load_probe_set(args.train, args.size, args.max_images)
        val = load_probe_set(args.val, args.size, args.max_images, classes=train.classes)
    except (ProbeWeightsError, ValueError, FileNotFoundError, KeyError) as e:
        print(f"decon-probe: FAILED: {e}\nnothing written", file=sys.stderr)
        return 1
    logger.info(f"train {args.train}: {len(train)} images, val {args.val}: {len(val)} images, "
                f"{len(train.classes.names)} classes, {args.size} px")
    rows = []
    for i, bb in enumerate(backbones):
        if args.bn_reestimate:
            n = reestimate_bn(bb.module, train.images, bb.pixel_mean, bb.pixel_std, bgr=bb.bgr)
            bb.label += " (BN re-estimated)"
            logger.info(f"{bb.label}: {n} BatchNorm statistics re-estimated on {args.train}")
        levels = [lv for lv in args.levels if lv in bb.levels]
        logger.info(f"[{i + 1}/{len(backbones)}] {bb.label}: levels {levels} "
                    f"(elapsed {time.perf_counter() - t0:.0f} s)")
        scores = probe_features(bb.features, bb.pixel_mean, bb.pixel_std, train, val, levels,
                                settings, label=bb.label)
        for lv in args.levels:
            if lv not in scores:
                scores[lv] = {"unavailable": bb.unavailable.get(lv, "not computed")}
        rows.append({"weights": bb.label, "levels": scores, "meta": bb.summary})
    table = format_table(rows, args.levels)
    print(table)
    if args.out:
        doc = {"train": args.train, "val": args.val, "size": args.size, "levels": args.levels,
               "settings": vars(settings), "bn_reestimated": args.bn_reestimate,
               "classes": train.classes.names,
               "num_train": len(train), "num_val": len(val), "rows": rows,
               "seconds": round(time.perf_counter() - t0, 1)}
        with atomic_write(args.out, "w") as f:
            f.write(to_json(doc))
        print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
