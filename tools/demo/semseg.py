"""Segmentation transfer on the embedded data, one command: ``python -m tools.demo.semseg``
(``make demo-semseg``).

Stages, each a real command a user would type (printed before it runs):
  1. pre-train DeCon-ML (FPN decoder) and DeCon-FCN (FCN decoder) on ``decon_demo_unlabeled``;
  2. convert them, verified, for the two segmentation models: DeCon-ML -> Semantic FPN writes the
     encoder + FPN (homogeneous decoder), DeCon-ML -> FCN-D6 the encoder alone (heterogeneous:
     the FCN head starts from scratch), DeCon-FCN -> FCN-D6 the encoder + FCN head;
  3. fine-tune Semantic FPN and FCN-D6 on ``decon_demo_sem_seg`` (the COCO demo photos as
     semantic masks) from random initialisation and from each converted file, and evaluate;
  4. print the mIoU table.
Progress and remaining-time estimates as in ``python -m tools.demo``; finished stages are
skipped on a re-run. The numbers fit 11 photos for a few iterations and evaluate on the same
photos: a check that the segmentation transfer path works end to end, not a measure of quality.
"""
import argparse
import json
import sys
import time
from pathlib import Path
from typing import List, Optional

from tools.paths import REPO_ROOT

from tools.demo.pipeline import Progress, run

SEMFPN = "configs/finetune/demo/semantic_R_50_FPN_demo.yaml"
FCN = "configs/finetune/demo/fcn_R_50_D6_demo.yaml"
DATASET = "decon_demo_sem_seg"
#: pre-training variant -> its demo config
PRETRAIN = {"decon_ml": "configs/demo/decon_ml_demo.yaml",
            "decon_fcn": "configs/demo/decon_fcn_demo.yaml"}
#: converted file -> (pre-training variant, fine-tune config)
CONVERT = {"decon_ml_semfpn": ("decon_ml", SEMFPN), "decon_ml_fcn": ("decon_ml", FCN),
           "decon_fcn_fcn": ("decon_fcn", FCN)}
#: run -> (model, fine-tune config, converted file or None, initialisation, decoder transferred)
RUNS = {
    "semfpn_random": ("Semantic FPN", SEMFPN, None, "random init", "-"),
    "semfpn_decon_ml": ("Semantic FPN", SEMFPN, "decon_ml_semfpn", "decon_ml", "FPN (homogeneous)"),
    "fcn_random": ("FCN-D6", FCN, None, "random init", "-"),
    "fcn_decon_ml": ("FCN-D6", FCN, "decon_ml_fcn", "decon_ml", "none (heterogeneous)"),
    "fcn_decon_fcn": ("FCN-D6", FCN, "decon_fcn_fcn", "decon_fcn", "FCN head (homogeneous)"),
}
# Rough stage costs on 2 CPU cores (seconds), used only for the remaining-time estimate.
BUDGET = {"pretrain_decon_ml": 60, "pretrain_decon_fcn": 60, **{c: 40 for c in CONVERT},
          **{r: 100 for r in RUNS}, "report": 5}


def _results(folder: Path) -> dict:
    path = folder / "inference" / "results.json"
    if not path.is_file():
        raise SystemExit(f"no evaluation results at {path}")
    return json.loads(path.read_text())["results"][DATASET]["sem_seg"]


def format_table(rows) -> str:
    head = (f"{'model':<14} {'initialisation':<16} {'decoder transferred':<24} {'mIoU':>6} "
            f"{'fwIoU':>6} {'pACC':>6}")
    lines = [head, "-" * len(head)]
    for model, init, decoder, r in rows:
        lines.append(f"{model:<14} {init:<16} {decoder:<24} {r['mIoU']:>6.2f} {r['fwIoU']:>6.2f} "
                     f"{r['pACC']:>6.2f}")
    return "\n".join(lines)


def main(argv: Optional[List[str]] = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--output", default="output/demo_semseg", help="everything lands here")
    parser.add_argument("--finetune-iters", type=int, default=None,
                        help="override SOLVER.MAX_ITER of every fine-tune (smoke runs)")
    parser.add_argument("--pretrain-iters", type=int, default=None,
                        help="override the pre-training length in iterations (smoke runs)")
    args = parser.parse_args(argv)
    out = (REPO_ROOT / args.output).resolve()
    py = sys.executable
    progress = Progress(BUDGET, tag="demo-semseg")

    for variant, cfg in PRETRAIN.items():
        stage, folder = f"pretrain_{variant}", out / f"pretrain_{variant}"
        progress.start(stage, f"pre-training {variant} on decon_demo_unlabeled")
        if not (folder / "model_final.pth").is_file():
            extra = [] if args.pretrain_iters is None else [
                "SOLVER.DECON.EPOCHS", "0", "SOLVER.MAX_ITER", str(args.pretrain_iters),
                "SOLVER.WARMUP_ITERS", "1"]
            run([py, "train_net.py", "--config-file", cfg, "--resume", "OUTPUT_DIR",
                 str(folder)] + extra)
        progress.finish(stage)

    for name, (variant, cfg) in CONVERT.items():
        pkl = out / f"{name}.pkl"
        progress.start(name, f"converting {variant} for {Path(cfg).stem} (verified)")
        if not pkl.is_file():
            run([py, "-m", "decon_d2.convert", str(out / f"pretrain_{variant}" / "model_final.pth"),
                 str(pkl), "--config", cfg, "--decoder", "auto", "--verify"])
        progress.finish(name)

    iters = [] if args.finetune_iters is None else ["SOLVER.MAX_ITER", str(args.finetune_iters)]
    for name, (model, cfg, weights, init, _) in RUNS.items():
        folder = out / name
        progress.start(name, f"fine-tuning {model} on {DATASET} from {init}")
        if not (folder / "inference" / "results.json").is_file():
            run([py, "train_net.py", "--config-file", cfg, "--resume", "MODEL.WEIGHTS",
                 str(out / f"{weights}.pkl") if weights else "", "OUTPUT_DIR", str(folder)]
                + iters)
        progress.finish(name)

    progress.start("report", "results")
    table = format_table([(model, init, decoder, _results(out / name))
                          for name, (model, _, _, init, decoder) in RUNS.items()])
    (out / "results.txt").write_text(table + "\n")
    progress.finish("report")
    print("\n" + table)
    print(f"\nAll outputs: {out}  (total {(time.time() - progress.t0) / 60:.1f} min)")
    print("These numbers fit 11 training photos for a few iterations, evaluated on the same "
          "photos: a check that segmentation transfer works end to end, not a measure of "
          "pre-training quality.")
    return 0


if __name__ == "__main__":
    sys.exit(main())
