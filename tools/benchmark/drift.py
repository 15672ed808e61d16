"""``python -m tools.benchmark.drift``: training losses in fp32 and under autocast, same start.

Mixed precision is a training mode only if it trains like fp32. This runs N real training steps
(the benchmark's step: engine step with LARS at the peak lr, then the EMA update) twice from the
same initial weights and the same synthetic batches, once in fp32 and once under autocast
(``--precision``), and prints both total losses per step with their relative difference
(docs/benchmarks.md, mixed precision; the tolerance there is checked by the tests).

Example: python -m tools.benchmark.drift --crop 64 --batch 4 --steps 20 --precision bf16
"""
import argparse
import json
import sys

from tools.benchmark.synthetic_batch import synthetic_batch

from tools.benchmark.cases import PRECISIONS, bench_cfg, build_bench_model, parse_case
from tools.benchmark.timing import make_step

__all__ = ["loss_curve", "compare_precisions"]


def loss_curve(case, precision, *, crop, batch, steps, device="cpu", instant_test=False,
               opts=(), seed=0):
    """Total loss of each of ``steps`` training steps from the seeded initial weights."""
    cfg = bench_cfg(case, crop=crop, batch=batch, device=device, precision=precision,
                    opts=opts, instant_test=instant_test)
    model = build_bench_model(cfg, case, seed=seed)
    step = make_step(cfg, model, synthetic_batch(batch, crop, seed=seed))
    losses = []
    for _ in range(steps):
        step()
        losses.append(step.storage.history("total_loss").latest())
    return losses


def compare_precisions(case, precision, **kw):
    """{"fp32": [...], precision: [...], "rel_diff": [...], "max_rel_diff": x}."""
    ref = loss_curve(case, "fp32", **kw)
    low = loss_curve(case, precision, **kw)
    rel = [abs(a - b) / abs(a) for a, b in zip(ref, low)]
    return {"fp32": ref, precision: low, "rel_diff": rel, "max_rel_diff": max(rel)}


def main(argv=None):
    p = argparse.ArgumentParser(prog="python -m tools.benchmark.drift", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--case", default="decon_ml")
    p.add_argument("--precision", choices=sorted(set(PRECISIONS) - {"fp32"}), default="bf16")
    p.add_argument("--crop", type=int, default=64)
    p.add_argument("--batch", type=int, default=4)
    p.add_argument("--steps", type=int, default=20)
    p.add_argument("--device", default="cpu")
    p.add_argument("--instant-test", action="store_true", help="tiny configs (smoke runs)")
    p.add_argument("--json", default=None)
    p.add_argument("opts", nargs=argparse.REMAINDER, help="config overrides, KEY VALUE ...")
    a = p.parse_args(argv)
    res = compare_precisions(parse_case(a.case), a.precision, crop=a.crop, batch=a.batch,
                             steps=a.steps, device=a.device, instant_test=a.instant_test,
                             opts=a.opts)
    print(f"step  fp32 loss  {a.precision} loss  rel diff")
    for i, (x, y, r) in enumerate(zip(res["fp32"], res[a.precision], res["rel_diff"])):
        print(f"{i:4d}  {x:9.4f}  {y:9.4f}  {r:8.2%}")
    print(f"max relative difference over {a.steps} steps: {res['max_rel_diff']:.2%}")
    if a.json:
        with open(a.json, "w") as f:
            json.dump({"args": vars(a), **res}, f, indent=1)
    return 0


if __name__ == "__main__":
    sys.exit(main())
