"""``python -m tools.gpu_check --out DIR [--device cuda] [--tiny] [--budget-s 420]``: writes
``DIR/gpu_check.json`` and ``DIR/gpu_check.md`` (section, status, key numbers, seconds).

The default budget leaves a minute of the 8 that ``scripts/gpu_check.sh`` allows for starting
the interpreter, importing and writing; a section that would not fit what is left is skipped.
"""
import argparse
import datetime
import functools
import os
import sys
import tempfile

import torch

from tools.gpu_check import numerics, ranks, speed
from tools.gpu_check.common import FULL, TINY, backend_settings
from tools.gpu_check.runner import Context, run_sections

SECTIONS = [
    ("env", numerics.env),
    ("nccl_world1", ranks.nccl_world1),
    ("two_ranks_one_gpu", ranks.two_ranks_one_gpu),
    ("cpu_cuda_parity", numerics.cpu_cuda_parity),
    ("fp16_scaler", numerics.fp16_scaler),
    ("recipe_step", speed.recipe_step),
    ("densecl_ml", speed.densecl_ml),
]


def parse_args(argv=None):
    p = argparse.ArgumentParser(prog="python -m tools.gpu_check", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--out", required=True, help="folder of gpu_check.json and gpu_check.md")
    p.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu",
                   choices=["cuda", "cpu"])
    p.add_argument("--tiny", action="store_true",
                   help="instant-test configs (ResNet-18, small heads, 64-px crops, batch 2-4)")
    p.add_argument("--budget-s", type=float, default=420.0,
                   help="seconds for all sections; one that would not fit is skipped")
    p.add_argument("--sections", nargs="+", choices=[n for n, _ in SECTIONS], default=None,
                   help="only these (default: all, in order)")
    return p.parse_args(argv)


def _isolated(fn, ctx):
    """A section's TF32 / cuDNN switches end with it."""
    with backend_settings():
        return fn(ctx)


def main(argv=None):
    a = parse_args(argv)
    os.makedirs(a.out, exist_ok=True)
    profile = TINY if a.tiny else FULL
    chosen = [(n, functools.partial(_isolated, fn)) for n, fn in SECTIONS
              if a.sections is None or n in a.sections]
    meta = {"started": datetime.datetime.now().isoformat(timespec="seconds"),
            "device": a.device, "mode": "tiny (instant-test configs)" if a.tiny else "full",
            "budget_s": a.budget_s, "argv": sys.argv[1:] if argv is None else list(argv)}
    with tempfile.TemporaryDirectory(prefix="gpu_check_") as tmp:
        ctx = Context(a.device, profile, tmp, a.budget_s)
        records = run_sections(chosen, ctx, a.out, meta)
    with open(os.path.join(a.out, "gpu_check.md")) as f:
        print(f.read())
    return 0 if all(r["status"] != "failed" for r in records) else 1


if __name__ == "__main__":
    sys.exit(main())
