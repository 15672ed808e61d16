"""The main job on the embedded data, one command: ``python -m tools.demo`` (``make demo``).

Stages, each a real command a user would type (printed before it runs):
  1. pre-train DeCon on ``decon_demo_unlabeled`` (``configs/demo/<variant>_demo.yaml``);
  2. convert the teacher (DenseCL variants: the student) into Mask R-CNN R50-FPN weights,
     with feature verification;
  3. fine-tune Mask R-CNN from random initialisation on ``decon_demo_coco`` and evaluate;
  4. fine-tune it from the converted DeCon weights and evaluate;
  5. dense linear probe (res5, p2) of random init and of the exported network on
     ``decon_demo_coco`` (``python -m decon_d2.probe``);
  6. print the results tables (bbox AP, mask AP; probe mIoU) and draw predictions on a photo.
Each stage's own log shows Detectron2's ETA; between stages the pipeline prints the elapsed
time and an estimate of what remains (stage budgets scaled by how fast this machine has been).
A stage that fails stops the pipeline with its command and exit code; finished stages are
skipped on a re-run (their outputs exist), so an interrupted demo resumes where it stopped.
"""
import argparse
import json
import sys
from functools import partial
from pathlib import Path
from typing import List, Optional

from tools.paths import REPO_ROOT
from tools.stages import Progress
from tools.stages import run as run_stage
from decon_d2.variants import VARIANTS

FINETUNE_CFG = "configs/finetune/demo/mask_rcnn_R_50_FPN_demo.yaml"
# Rough stage costs on 2 CPU cores (seconds), used only for the remaining-time estimate.
BUDGET = {"pretrain": 30, "convert": 30, "finetune_random": 330, "finetune_decon": 330,
          "probe": 40, "report": 20}
run = partial(run_stage, tag="demo")


def _results(folder: Path) -> dict:
    path = folder / "inference" / "results.json"
    if not path.is_file():
        raise SystemExit(f"no evaluation results at {path}")
    return json.loads(path.read_text())["results"]["decon_demo_coco"]


def format_table(rows) -> str:
    head = f"{'initialisation':<28} {'bbox AP':>8} {'bbox AP50':>10} {'mask AP':>8} {'mask AP50':>10}"
    lines = [head, "-" * len(head)]
    # None: the evaluator had no detection to score (a smoke run's few iterations)
    f = lambda v, w: f"{v:>{w}.2f}" if v is not None else f"{'n/a':>{w}}"  # noqa: E731
    for name, r in rows:
        lines.append(f"{name:<28} {f(r['bbox']['AP'], 8)} {f(r['bbox']['AP50'], 10)} "
                     f"{f(r['segm']['AP'], 8)} {f(r['segm']['AP50'], 10)}")
    return "\n".join(lines)


def main(argv: Optional[List[str]] = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--variant", default="decon_ml",
                        choices=[n for n, v in VARIANTS.items() if v.decoder_type != "FCN"],
                        help="a catalogue variant (decon_d2/variants.py) with an FPN or no "
                             "decoder (Mask R-CNN transfer); its demo config is pre-trained")
    parser.add_argument("--output", default=None,
                        help="everything lands here (default output/demo_pipeline, "
                             "output/demo_pipeline_<variant> for the other variants: finished "
                             "stages are skipped, so variants must not share a folder)")
    parser.add_argument("--finetune-iters", type=int, default=None,
                        help="override SOLVER.MAX_ITER of both fine-tunes (smoke runs)")
    parser.add_argument("--pretrain-iters", type=int, default=None,
                        help="override the pre-training length in iterations (smoke runs)")
    args = parser.parse_args(argv)
    default = "output/demo_pipeline" + ("" if args.variant == "decon_ml" else f"_{args.variant}")
    out = (REPO_ROOT / (args.output or default)).resolve()
    py = sys.executable
    progress = Progress(BUDGET, tag="demo")

    pre_dir, pkl = out / "pretrain", out / "decon_r50_fpn.pkl"
    progress.start("pretrain", f"pre-training {args.variant} on decon_demo_unlabeled")
    if not (pre_dir / "model_final.pth").is_file():
        extra = [] if args.pretrain_iters is None else [
            "SOLVER.DECON.EPOCHS", "0", "SOLVER.MAX_ITER", str(args.pretrain_iters),
            "SOLVER.WARMUP_ITERS", "1"]
        run([py, "train_net.py", "--config-file", f"configs/{VARIANTS[args.variant].demo}",
             "--resume", "OUTPUT_DIR", str(pre_dir)] + extra)
    progress.finish("pretrain")

    progress.start("convert", "converting the exported network (the teacher; DenseCL: the "
                   "student) into Mask R-CNN R50-FPN weights (verified)")
    if not pkl.is_file():
        run([py, "-m", "decon_d2.convert", str(pre_dir / "model_final.pth"), str(pkl),
             "--config", FINETUNE_CFG, "--verify"])
    progress.finish("convert")

    iters = [] if args.finetune_iters is None else ["SOLVER.MAX_ITER", str(args.finetune_iters),
                                                    "SOLVER.STEPS", "()",
                                                    "SOLVER.WARMUP_ITERS", "1"]
    for name, weights, what in (("finetune_random", "", "random initialisation"),
                                ("finetune_decon", str(pkl), "the DeCon-pretrained weights")):
        folder = out / name
        progress.start(name, f"fine-tuning Mask R-CNN R50-FPN on decon_demo_coco from {what}")
        if not (folder / "inference" / "results.json").is_file():
            run([py, "train_net.py", "--config-file", FINETUNE_CFG, "--resume",
                 "MODEL.WEIGHTS", weights, "OUTPUT_DIR", str(folder)] + iters)
        progress.finish(name)

    probe_json = out / "probe.json"
    progress.start("probe", "dense linear probe of random init and of the pre-trained network")
    if not probe_json.is_file():
        run([py, "-m", "decon_d2.probe", "--weights", "random", "--weights",
             str(pre_dir / "model_final.pth"), "--train", "decon_demo_coco", "--val",
             "decon_demo_coco", "--out", str(probe_json)])
    progress.finish("probe")

    progress.start("report", "results and predictions")
    rows = [("random init", _results(out / "finetune_random")),
            (f"{args.variant} pre-trained", _results(out / "finetune_decon"))]
    table = format_table(rows)
    from decon_d2.probe.report import format_table as format_probe_table

    from tools.demo.visualize import draw_predictions

    png = draw_predictions(out / "finetune_decon", out / "predictions.png")
    probe = json.loads(probe_json.read_text())
    exported = (probe["rows"][1].get("meta") or {}).get("branch") or "teacher"
    for row, name in zip(probe["rows"], ["random init", f"{args.variant} {exported}"]):
        row["weights"] = name
    probe_table = format_probe_table(probe["rows"], probe["levels"])
    (out / "results.txt").write_text(table + "\n\n" + probe_table + "\n")
    progress.finish("report")
    print("\n" + table)
    print("\nDense linear probe on decon_demo_coco (fit and scored on the same 11 photos; "
          "percent):\n" + probe_table)
    print(f"\nPredictions drawn on a photo: {png}\nAll outputs: {out}  "
          f"(total {progress.minutes():.1f} min)")
    print("These numbers fit 11 training photos evaluated on the same photos: a check that the "
          "pipeline works end to end, not a measure of pre-training quality.")
    return 0
