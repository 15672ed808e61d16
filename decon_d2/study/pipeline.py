"""The CPU learning study, one command: ``python -m decon_d2.study`` (``make study``).

Stages, each a real command (printed before it runs; finished ones are skipped on a re-run):
  1. build or verify the study data (``python -m decon_d2.build_data study``);
  2. pre-train encoder-only SlotCon and DeCon-ML with the same budget (``configs/study/``), one
     run per seed, each with the online probe of its teacher (the learning curves);
  3. probe res5 and p2 of Detectron2's random init (one draw per seed) and of every teacher,
     frozen, on ``decon_study_seg_train`` -> ``decon_study_seg_val`` (``python -m decon_d2.probe``);
  4. save the network each run started from (``python -m decon_d2.study.initial``: the same
     model at iteration 0, the fair baseline) and probe those the same way;
  5. write ``results.md`` (final table mean ± std over seeds, per-run numbers, curves, health
     signals) and ``curves.png`` under the output folder, and print them.
docs/learning.md reports a run of it.
"""
import argparse
import json
import sys
from functools import partial
from typing import List, Optional

from decon_d2.utils.atomic import atomic_write
from decon_d2.utils.paths import REPO_ROOT
from decon_d2.utils.stages import Progress
from decon_d2.utils.stages import run as run_stage
from decon_d2.variants import VARIANTS

from . import summary

#: the catalogue's variants that have a study config (decon_d2/variants.py)
CONFIGS = {n: f"configs/{v.study}" for n, v in VARIANTS.items() if v.study}
TRAIN, VAL = "decon_study_seg_train", "decon_study_seg_val"
LEVELS = ["res5", "p2"]
# Rough stage costs on 2 CPU cores (seconds), used only for the remaining-time estimate.
PRETRAIN_BUDGET = {"slotcon": 560, "decon_ml": 990}
run = partial(run_stage, tag="study")


def main(argv: Optional[List[str]] = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--output", default="output/study", help="everything lands here")
    p.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    p.add_argument("--methods", nargs="+", default=list(CONFIGS), choices=list(CONFIGS))
    p.add_argument("--iters", type=int, default=None,
                   help="override the pre-training length (smoke runs; not the study)")
    p.add_argument("--probe-max-images", type=int, default=0,
                   help="first N images of each probe set (smoke runs; 0 = all)")
    args = p.parse_args(argv)
    out = (REPO_ROOT / args.output).resolve()
    out.mkdir(parents=True, exist_ok=True)
    py = sys.executable
    runs = {m: {s: out / f"{m}_s{s}" for s in args.seeds} for m in args.methods}
    budgets = {"data": 60}
    budgets.update({f"{m}_s{s}": PRETRAIN_BUDGET[m] for m in runs for s in runs[m]})
    budgets.update({"probe": 50 * len(args.seeds) * (1 + len(args.methods)),
                    "init": 50 * len(args.seeds) * len(args.methods), "report": 10})
    progress = Progress(budgets, tag="study")

    progress.start("data", "building / verifying the study data sets")
    run([py, "-m", "decon_d2.build_data", "study"])
    progress.finish("data")

    for method, seeds in runs.items():
        for seed, folder in seeds.items():
            name = f"{method}_s{seed}"
            progress.start(name, f"pre-training {method}, seed {seed}")
            if not (folder / "model_final.pth").is_file():
                extra = [] if args.iters is None else [
                    "SOLVER.DECON.EPOCHS", "0", "SOLVER.MAX_ITER", str(args.iters),
                    "SOLVER.WARMUP_ITERS", "1", "TEST.DECON.PROBE_PERIOD", str(args.iters)]
                if args.probe_max_images:
                    extra += ["TEST.DECON.PROBE_MAX_IMAGES", str(args.probe_max_images)]
                run([py, "train_net.py", "--config-file", CONFIGS[method], "--resume",
                     "SEED", str(seed), "OUTPUT_DIR", str(folder)] + extra)
            progress.finish(name)

    groups = [("random init", s) for s in args.seeds]
    weights = [f"random:{s}" for s in args.seeds]
    for method, seeds in runs.items():
        groups += [(method, s) for s in seeds]
        weights += [str(f / "model_final.pth") for f in seeds.values()]
    def probe(weights_files, json_out):
        """The final probe of ``weights_files`` (one row each) into ``json_out``."""
        cmd = [py, "-m", "decon_d2.probe", "--train", TRAIN, "--val", VAL, "--levels", *LEVELS,
               "--out", str(json_out)]
        if args.probe_max_images:
            cmd += ["--max-images", str(args.probe_max_images)]
        run(cmd + [x for w in weights_files for x in ("--weights", str(w))])

    probe_json = out / "probe.json"
    progress.start("probe", f"dense linear probe of {len(weights)} backbones ({LEVELS})")
    if not probe_json.is_file():
        probe(weights, probe_json)
    progress.finish("probe")

    init_groups = [(f"{m} at iteration 0", s) for m in runs for s in runs[m]]
    init_json = out / "probe_init.json"
    progress.start("init", f"the {len(init_groups)} networks the runs started from, probed")
    if not init_json.is_file():
        init_weights = []
        for method, seeds in runs.items():
            for seed in seeds:
                path = out / "init" / f"{method}_s{seed}.pth"
                if not path.is_file():
                    run([py, "-m", "decon_d2.study.initial", "--config-file", CONFIGS[method],
                         "--seed", str(seed), "--out", str(path)])
                init_weights.append(path)
        probe(init_weights, init_json)
    progress.finish("init")

    progress.start("report", "tables and curves")
    final = json.loads(probe_json.read_text())
    init = json.loads(init_json.read_text())
    for doc, path, want in ((final, probe_json, groups), (init, init_json, init_groups)):
        if len(doc["rows"]) != len(want):
            raise SystemExit(f"{path} holds {len(doc['rows'])} rows, the study expects "
                             f"{len(want)}: delete it to probe again")
    rows, groups = final["rows"] + init["rows"], groups + init_groups
    dirs = {m: list(seeds.values()) for m, seeds in runs.items()}
    data = summary.curves(dirs, LEVELS)
    png = summary.plot_curves(data, LEVELS, out / "curves.png")
    text = "\n\n".join([
        f"## Final probe ({TRAIN} -> {VAL}, {final['size']} px, percent, mean ± std over "
        f"seeds {args.seeds})", summary.final_table(rows, groups, LEVELS),
        "## Every run", summary.per_seed_table(rows, groups, LEVELS),
        "## Online probe of the teacher during pre-training (mIoU, mean ± std over seeds)",
        summary.curve_table(data, LEVELS),
        "## Health signals at the last logged step (mean ± std over seeds)",
        summary.health_table(dirs),
    ])
    with atomic_write(out / "results.md", "w") as f:
        f.write(text + "\n")
    progress.finish("report")
    print("\n" + text)
    print(f"\nCurves: {png}\nAll outputs: {out}  (total {progress.minutes():.1f} min)")
    return 0
