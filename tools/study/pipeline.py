"""The CPU learning study, one command: ``python -m tools.study`` (``make study``; the
ResNet-18 recipe with its gate and fine-tuning: ``--recipe r18``, ``make study-small``).

Stages, each a real command (printed before it runs; finished ones are skipped on a re-run):
  1. build or verify the study data (``python -m tools.build_data study``);
  2. one arm per pre-training method (``arms.py``): every seed's run with the online probe of
     its teacher (the curves), the networks the runs started from, and the frozen probes
     (``probes.py``: teacher, iteration 0, student, both with BN re-estimated, random init);
  3. the preregistered endpoint (``endpoint.py``) of each arm; with a gate (the r18 recipe:
     SlotCon), the other arms and the fine-tuning run only if the gating arm passes;
  4. (r18) convert the weights of rows (a)-(e) and fine-tune Semantic FPN from each at every
     label fraction and seed (``transfer.py``);
  5. write ``results.md`` (endpoint, probe rows and paired differences, every run, curves, health
     signals, fine-tuning tables) and ``curves.png`` under the output folder, and print them.
Short stages run their commands in one process each (``tools/batch.py``: an interpreter start is
~5 s). ``--jobs N`` runs N pre-training or fine-tuning runs at once, the cores shared out among
them (``tools/stages.run_many``). docs/learning.md reports the study.
"""
import argparse
from typing import List, Optional

from decon_d2.utils.atomic import atomic_write
from tools.paths import REPO_ROOT
from tools.stages import Progress
from tools import batch
from tools.stages import run_many

from tools.study import endpoint, probes, summary, transfer, transfer_tables
from tools.study.arms import LEVELS, Study, run
from tools.study.recipes import DATA, RECIPES


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--recipe", choices=sorted(RECIPES), default="r50",
                   help="r50: the paper's networks at a CPU budget; r18: the small network with "
                        "many more epochs and the fine-tuning transfer (docs/learning.md)")
    p.add_argument("--output", default=None, help="everything lands here (default: the recipe's)")
    p.add_argument("--data", choices=sorted(DATA), default="study",
                   help="study: the study's data sets; demo: the embedded demo sets (smoke runs)")
    p.add_argument("--seeds", type=int, nargs="+", default=None,
                   help="default: the recipe's (r50: 0 1 2; r18: 0 1 2 3 4)")
    p.add_argument("--methods", nargs="+", default=None,
                   help="subset of the recipe's methods (default: all)")
    p.add_argument("--fractions", type=float, nargs="+", default=None,
                   help="label fractions of the fine-tuning rows (default: the recipe's)")
    p.add_argument("--no-gate", action="store_true",
                   help="run every arm whatever the gating method's endpoint says (smoke runs; "
                        "not the study)")
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
    args.seeds = args.seeds or list(recipe.seeds)
    out = (REPO_ROOT / (args.output or recipe.output)).resolve()
    out.mkdir(parents=True, exist_ok=True)
    gate = None if args.no_gate or recipe.gate not in methods else recipe.gate
    if gate:  # the gating method runs first; the others only if it passes
        methods = [gate] + [m for m in methods if m != gate]
    study = Study(args, recipe, out, DATA[args.data])
    progress = Progress(study.budgets(methods, fractions), tag="study")

    progress.start("data", "building / verifying the study data sets")
    run([study.py, "-m", "tools.build_data", study.data.build])
    progress.finish("data")

    probed, verdicts, ran = probes.random_runs(args.seeds), {}, []
    for method in methods:
        probed += study.arm(progress, method, random_rows=[] if ran else probed)
        ran.append(method)
        verdicts[method] = endpoint.verdict(probes.read_rows(probed, out), method, args.seeds)
        print(f"\n[study] {verdicts[method]['line']}", flush=True)
        if method == gate and not verdicts[method]["passed"]:
            break  # as preregistered: nothing after a failed gate
    skipped = methods[len(ran):]

    if recipe.transfer and not skipped:
        finetune_stages(progress, study.py, args, fractions, study.runs, out, study.ft_opts())

    progress.start("report", "tables and curves")
    rows = probes.read_rows(probed, out)
    dirs = {m: list(study.runs[m].values()) for m in ran}
    curve_data = summary.curves(dirs, LEVELS)
    png = summary.plot_curves(curve_data, LEVELS, out / "curves.png")
    parts = ["## The preregistered endpoint (res5 teacher − its own iteration 0, frozen probe, "
             "95 % t interval)", "\n".join(f"- {v['line']}" for v in verdicts.values())]
    if skipped:
        parts.append(f"Not run, as preregistered: {', '.join(skipped)} and the fine-tuning rows "
                     f"({gate} did not pass; docs/learning.md).")
    labels = list(dict.fromkeys(label for label, _ in rows))
    groups = [(label, s) for label in labels for s in args.seeds]
    parts += [
        f"## Frozen probe ({study.data.seg_train} -> {study.data.seg_val}, 224 px, mIoU percent, "
        f"mean ± std over seeds {args.seeds})",
        endpoint.rows_table(rows, ran, args.seeds, LEVELS),
        "## Paired differences, frozen probe (same seed; mean and 95 % t interval)",
        "\n\n".join(endpoint.comparison_table(rows, m, args.seeds, LEVELS) for m in ran),
        "## Every probe row", summary.per_seed_table([rows[g] for g in groups], groups, LEVELS),
        "## Online probe of the teacher during pre-training (mIoU, mean ± std over seeds)",
        summary.curve_table(curve_data, LEVELS),
        "## Health signals at the last logged step (mean ± std over seeds)",
        summary.health_table(dirs),
    ]
    if recipe.transfer and not skipped:
        results = transfer.collect(out, fractions, args.seeds, study.data.seg_val)
        parts += transfer_tables.sections(results, fractions, args.seeds, study.data.seg_val)
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
