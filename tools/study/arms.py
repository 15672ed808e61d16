"""One arm of the study: a pre-training method over every seed, from its runs to its probes.

An arm is three stages (``pipeline.py`` prints them with the elapsed time and an estimate of
what is left, and skips whatever is finished on a re-run): pre-training of every seed (each run
with the online probe of its teacher: the curves), the networks the runs started from
(``tools/study/initial.py``), and the five frozen probes of ``probes.py`` (plus Detectron2's
random init with the first arm). The arms run one after the other so that the gating method's
endpoint is known before the next arm starts.
"""
import sys
from functools import partial
from pathlib import Path
from typing import Dict, List

from tools import batch
from tools.stages import run as run_stage
from tools.stages import run_many

from tools.study import probes, transfer
from tools.study.recipes import DataSets, Recipe

__all__ = ["Study", "LEVELS"]

#: the levels every probe row is scored at (p2: DeCon-ML's decoder; n/a for encoder-only)
LEVELS = ["res5", "res4", "p2"]
run = partial(run_stage, tag="study")


class Study:
    """Paths, options and stage commands of one ``python -m tools.study`` invocation."""

    def __init__(self, args, recipe: Recipe, out: Path, data: DataSets):
        self.args, self.recipe, self.out, self.data = args, recipe, out, data
        self.py = sys.executable
        self.runs: Dict[str, Dict[int, Path]] = {
            m: {s: out / f"{m}_s{s}" for s in args.seeds} for m in recipe.configs}
        self.inits = {m: {s: out / "init" / f"{m}_s{s}.pth" for s in args.seeds}
                      for m in recipe.configs}

    @property
    def smoke(self) -> List[str]:
        """What a run on the demo sets changes in every config: no loader worker processes
        (each would import torch again for a few images); nothing for the study's sets."""
        return [] if self.args.data == "study" else ["DATALOADER.NUM_WORKERS", "0"]

    def pretrain_opts(self) -> List[str]:
        a, d = self.args, self.data
        opts = [] if a.data == "study" else [
            "DATASETS.TRAIN", f"('{d.unlabeled}',)", "TEST.DECON.PROBE_TRAIN", d.seg_train,
            "TEST.DECON.PROBE_VAL", d.seg_val, *self.smoke]
        if a.iters is not None:
            opts += ["SOLVER.DECON.EPOCHS", "0", "SOLVER.MAX_ITER", str(a.iters),
                     "SOLVER.WARMUP_ITERS", "1", "TEST.DECON.PROBE_PERIOD", str(a.iters)]
        if a.probe_max_images:
            opts += ["TEST.DECON.PROBE_MAX_IMAGES", str(a.probe_max_images)]
        return opts

    def ft_opts(self) -> List[str]:
        d = self.data
        return [] if self.args.data == "study" else [
            "DATASETS.TRAIN", f"('{d.seg_train}',)", "DATASETS.TEST", f"('{d.seg_val}',)",
            "MODEL.SEM_SEG_HEAD.NUM_CLASSES", str(d.num_classes), *self.smoke]

    def budgets(self, methods: List[str], fractions: List[float]) -> Dict[str, float]:
        """Rough seconds per stage on 2 cores (only for the remaining-time estimate)."""
        n, r = len(self.args.seeds), self.recipe
        b = {"data": 60}
        for i, m in enumerate(methods):
            b[f"pretrain {m}"] = r.pretrain_s[m] * n
            b[f"init {m}"] = 10 * n
            b[f"probe {m}"] = r.probe_s * n * (5 + 2 * (i == 0))
        if r.transfer:
            b.update({"convert": 8 * n * 4,
                      "finetune": r.finetune_s * len(transfer.ROWS) * len(fractions) * n})
        b["report"] = 10
        return b

    def arm(self, progress, method: str, random_rows: List[probes.ProbeRun]) -> List:
        """Pre-train, save the starting networks and probe ``method``'s runs (finished parts
        skipped), probing ``random_rows`` with them; ``method``'s probe runs."""
        a, config, runs = self.args, self.recipe.configs[method], self.runs[method]
        progress.start(f"pretrain {method}", f"pre-training {method} x {len(runs)} seed(s)")
        run_many([(f"[study] pre-training {method}, seed {seed} ({config})",
                   [self.py, "train_net.py", "--config-file", config, "--resume",
                    "SEED", str(seed), "OUTPUT_DIR", str(folder)] + self.pretrain_opts(),
                   folder.with_name(folder.name + ".out"))
                  for seed, folder in runs.items() if not (folder / "model_final.pth").is_file()],
                 a.jobs, tag="study")
        progress.finish(f"pretrain {method}")

        inits = self.inits[method]
        progress.start(f"init {method}", f"the {len(inits)} networks {method} started from")
        todo = [["--config-file", config, "--seed", s, "--out", path]
                for s, path in inits.items() if not path.is_file()]
        if todo:  # one process for all of them (tools/batch.py)
            run(batch.command(self.py, "tools.study.initial", todo))
        progress.finish(f"init {method}")

        made = list(random_rows) + probes.arm_runs(
            method, a.seeds, {s: f / "model_final.pth" for s, f in runs.items()}, inits)
        progress.start(f"probe {method}", f"{len(made)} frozen probes ({', '.join(LEVELS)}) of "
                       f"{len(a.seeds)} backbones each: " + ", ".join(r.label for r in made))
        (self.out / "probe").mkdir(exist_ok=True)
        todo = [probes.probe_argv(r, self.out, self.data.seg_train, self.data.seg_val, LEVELS,
                                  self.recipe.random_geometry, a.probe_max_images)
                for r in made if not r.json(self.out).is_file()]
        if todo:  # one process for all of them (tools/batch.py)
            run(batch.command(self.py, "decon_d2.probe", todo))
        progress.finish(f"probe {method}")
        return made[len(random_rows):]
