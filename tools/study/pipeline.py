"""The CPU learning study, one command: ``python -m tools.study`` (``make study``; the
ResNet-18 recipe with fine-tuning: ``--recipe r18``, ``make study-small``).

Stages, each a real command (printed before it runs; finished ones are skipped on a re-run):
  1. build or verify the study data (``python -m tools.build_data study``);
  2. pre-train encoder-only SlotCon and DeCon-ML with the same budget (the recipe's configs,
     ``recipes.py``), one run per seed, each with the online probe of its teacher (the curves);
  3. save the network each run started from (``python -m tools.study.initial``: the same model
     at iteration 0, the fair baseline);
  4. probe res5 and p2 of Detectron2's random init (one draw per seed), of every teacher and of
     every starting network, frozen, on ``decon_study_seg_train`` -> ``decon_study_seg_val``
     (``python -m decon_d2.probe``);
  5. (r18) convert the weights of rows (a)-(e) and fine-tune Semantic FPN from each at every
     label fraction and seed (``transfer.py``);
  6. write ``results.md`` (tables mean ± std over seeds, per-run numbers, paired differences,
     curves, health signals) and ``curves.png`` under the output folder, and print them.
Stages 3, 4 and the conversions of 5 run their commands in one process each
(``tools/batch.py``: an interpreter start is ~5 s). ``--jobs N`` runs N pre-training (stage 2)
or fine-tuning (stage 5) runs at once, the cores shared out among them
(``tools/stages.run_many``). docs/learning.md reports runs of both recipes.
"""
import argparse
import json
import sys
from functools import partial
from typing import List, Optional

from decon_d2.utils.atomic import atomic_write
from tools.paths import REPO_ROOT
from tools import batch
from tools.stages import Progress
from tools.stages import run as run_stage
from tools.stages import run_many

from tools.study import summary, transfer, transfer_tables
from tools.study.recipes import DATA, RECIPES

LEVELS = ["res5", "p2"]
run = partial(run_stage, tag="study")


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--recipe", choices=sorted(RECIPES), default="r50",
                   help="r50: the paper's networks at a CPU budget; r18: the small network with "
                        "many more epochs and the fine-tuning transfer (docs/learning.md)")
    p.add_argument("--output", default=None, help="everything lands here (default: the recipe's)")
    p.add_argument("--data", choices=sorted(DATA), default="study",
                   help="study: the study's data sets; demo: the embedded demo sets (smoke runs)")
    p.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    p.add_argument("--methods", nargs="+", default=None,
                   help="subset of the recipe's methods (default: all)")
    p.add_argument("--fractions", type=float, nargs="+", default=None,
                   help="label fractions of the fine-tuning rows (default: the recipe's)")
    p.add_argument("--iters", type=int, default=None,
                   help="override the pre-training length (smoke runs; not the study)")
    p.add_argument("--finetune-iters", type=int, default=None,
                   help="override the fine-tuning length (smoke runs; not the study)")
    p.add_argument("--probe-max-images", type=int, default=0,
                   help="first N images of each probe set (smoke runs; 0 = all)")
    p.add_argument("--jobs", type=int, default=1,
                   help="pre-training and fine-tuning runs at once, the cores shared out among "
                        "them (each run's output then goes to <run folder>.out)")
    return p


def main(argv: Optional[List[str]] = None) -> int:
    p = build_parser()
    args = p.parse_args(argv)
    recipe = RECIPES[args.recipe]
    methods = args.methods or list(recipe.configs)
    unknown = [m for m in methods if m not in recipe.configs]
    if unknown:
        p.error(f"--methods {unknown}: recipe {recipe.name} has {list(recipe.configs)}")
    if recipe.transfer and set(methods) != set(recipe.configs):
        p.error(f"recipe {recipe.name} fine-tunes from every method; drop --methods")
    fractions = args.fractions or list(recipe.fractions)
    out = (REPO_ROOT / (args.output or recipe.output)).resolve()
    out.mkdir(parents=True, exist_ok=True)
    py = sys.executable
    data = DATA[args.data]
    train, val = data.seg_train, data.seg_val
    # what the smoke run (--data demo) changes in every config: its sets, and no loader worker
    # processes (each would import torch again for a few images); nothing for the study's sets
    smoke = [] if args.data == "study" else ["DATALOADER.NUM_WORKERS", "0"]
    data_opts = [] if args.data == "study" else [
        "DATASETS.TRAIN", f"('{data.unlabeled}',)", "TEST.DECON.PROBE_TRAIN", train,
        "TEST.DECON.PROBE_VAL", val, *smoke]
    runs = {m: {s: out / f"{m}_s{s}" for s in args.seeds} for m in methods}
    n_ft = len(transfer.ROWS) * len(fractions) * len(args.seeds) if recipe.transfer else 0
    budgets = {"data": 60}
    budgets["pretrain"] = sum(recipe.pretrain_s[m] * len(runs[m]) for m in runs)
    budgets.update({"init": 10 * len(args.seeds) * len(methods),
                    "probe": recipe.probe_s * len(args.seeds) * (1 + 2 * len(methods))})
    if recipe.transfer:
        budgets.update({"convert": 8 * len(args.seeds) * 4, "finetune": recipe.finetune_s * n_ft})
    budgets["report"] = 10
    progress = Progress(budgets, tag="study")

    progress.start("data", "building / verifying the study data sets")
    run([py, "-m", "tools.build_data", data.build])
    progress.finish("data")

    progress.start("pretrain", f"pre-training {len(methods)} method(s) x {len(args.seeds)} seed(s)")
    extra = [] if args.iters is None else [
        "SOLVER.DECON.EPOCHS", "0", "SOLVER.MAX_ITER", str(args.iters),
        "SOLVER.WARMUP_ITERS", "1", "TEST.DECON.PROBE_PERIOD", str(args.iters)]
    if args.probe_max_images:
        extra += ["TEST.DECON.PROBE_MAX_IMAGES", str(args.probe_max_images)]
    run_many([(f"[study] pre-training {method}, seed {seed} ({recipe.configs[method]})",
               [py, "train_net.py", "--config-file", recipe.configs[method], "--resume",
                "SEED", str(seed), "OUTPUT_DIR", str(folder)] + data_opts + extra,
               folder.with_name(folder.name + ".out"))
              for method, seeds in runs.items() for seed, folder in seeds.items()
              if not (folder / "model_final.pth").is_file()], args.jobs, tag="study")
    progress.finish("pretrain")

    groups = [("random init", s) for s in args.seeds]
    weights = [f"random:{s}" for s in args.seeds]
    for method, seeds in runs.items():
        groups += [(method, s) for s in seeds]
        weights += [str(f / "model_final.pth") for f in seeds.values()]

    init_groups = [(f"{m} at iteration 0", s) for m in runs for s in runs[m]]
    init_files = {(m, s): out / "init" / f"{m}_s{s}.pth" for m in runs for s in runs[m]}
    init_weights = list(init_files.values())
    progress.start("init", f"the {len(init_groups)} networks the runs started from, saved")
    todo = [["--config-file", recipe.configs[m], "--seed", s, "--out", path]
            for (m, s), path in init_files.items() if not path.is_file()]
    if todo:  # one process for all of them (tools/batch.py)
        run(batch.command(py, "tools.study.initial", todo))
    progress.finish("init")

    def probe_args(weights_files, json_out):
        """``python -m decon_d2.probe`` arguments: ``weights_files`` (a row each), into
        ``json_out``."""
        depth, width = recipe.random_geometry
        argv = ["--train", train, "--val", val, "--levels", *LEVELS, "--random-depth", depth,
                "--random-fpn-channels", width, "--out", json_out]
        if args.probe_max_images:
            argv += ["--max-images", args.probe_max_images]
        return argv + [x for w in weights_files for x in ("--weights", w)]

    probe_json, init_json = out / "probe.json", out / "probe_init.json"
    progress.start("probe", f"dense linear probe of {len(weights)} trained / random and "
                   f"{len(init_weights)} initial backbones ({LEVELS})")
    todo = [probe_args(w, j) for w, j in ((weights, probe_json), (init_weights, init_json))
            if not j.is_file()]
    if todo:  # the final and the initial networks' probes in one process (tools/batch.py)
        run(batch.command(py, "decon_d2.probe", todo))
    progress.finish("probe")

    if recipe.transfer:
        ft_opts = [] if args.data == "study" else [
            "DATASETS.TRAIN", f"('{train}',)", "DATASETS.TEST", f"('{val}',)",
            "MODEL.SEM_SEG_HEAD.NUM_CLASSES", str(data.num_classes), *smoke]
        finetune_stages(progress, py, args, fractions, runs, out, ft_opts)

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
    parts = [
        f"## Final probe ({train} -> {val}, {final['size']} px, percent, mean ± std over "
        f"seeds {args.seeds})", summary.final_table(rows, groups, LEVELS),
        "## Does the frozen probe beat the baselines by more than 2 × the seed std?",
        transfer_tables.probe_margin_table(rows, groups, LEVELS),
        "## Every run", summary.per_seed_table(rows, groups, LEVELS),
        "## Online probe of the teacher during pre-training (mIoU, mean ± std over seeds)",
        summary.curve_table(data, LEVELS),
        "## Health signals at the last logged step (mean ± std over seeds)",
        summary.health_table(dirs),
    ]
    if recipe.transfer:
        results = transfer.collect(out, fractions, args.seeds, val)
        parts += transfer_tables.sections(results, fractions, args.seeds, val)
    text = "\n\n".join(parts)
    with atomic_write(out / "results.md", "w") as f:
        f.write(text + "\n")
    progress.finish("report")
    print("\n" + text)
    print(f"\nCurves: {png}\nAll outputs: {out}  (total {progress.minutes():.1f} min)")
    return 0


def finetune_stages(progress, py, args, fractions, runs, out, ft_opts) -> None:
    """Convert the weights of rows (a)-(e), then fine-tune every (row, fraction, seed)."""
    progress.start("convert", "converting the weights of rows (b)-(e) for Semantic FPN")
    (out / "converted").mkdir(exist_ok=True)
    todo = [argv for pkl, argv in transfer.convert_jobs(args.seeds, runs, out)
            if not pkl.is_file()]
    if todo:  # one process for all of them (tools/batch.py)
        run(batch.command(py, "decon_d2.convert", todo))
    progress.finish("convert")
    jobs = [(r, f, s) for f in fractions for s in args.seeds for r in transfer.ROWS]
    progress.start("finetune", f"{len(jobs)} Semantic FPN fine-tuning runs "
                   f"({transfer.FT_CONFIG}; fractions {fractions}, seeds {args.seeds})")
    extra = list(ft_opts)
    if args.finetune_iters is not None:
        extra += ["SOLVER.MAX_ITER", str(args.finetune_iters)]
    todo = []
    for i, (row, fraction, seed) in enumerate(jobs, 1):
        folder = transfer.run_dir(out, row, fraction, seed)
        if transfer.results_file(folder).is_file():
            continue
        todo.append((f"[study] fine-tuning {i}/{len(jobs)}: {row.label}, {fraction:.0%} labels, "
                     f"seed {seed}", transfer.finetune_cmd(py, row, fraction, seed, out, folder,
                                                           extra),
                     folder.with_name(folder.name + ".out")))
    run_many(todo, args.jobs, tag="study")
    progress.finish("finetune")
