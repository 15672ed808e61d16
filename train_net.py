#!/usr/bin/env python
"""Pre-train DeCon (or fine-tune / evaluate a detector) with Detectron2's launcher.

    python train_net.py --config-file configs/demo/decon_ml_demo.yaml            # CPU demo
    python train_net.py --config-file configs/decon_pretrain.yaml --num-gpus 8   # paper recipe
    python train_net.py --config-file ... --resume            # continue the run in OUTPUT_DIR
    python train_net.py --config-file ... --overwrite         # replace the run in OUTPUT_DIR
    python train_net.py --config-file ... --dry-run           # preflight + summary only
    torchrun --nproc_per_node 8 train_net.py --config-file ...  # or under srun: docs/cluster.md

MODEL.META_ARCHITECTURE chooses the trainer (docs/engine.md, docs/finetune.md). Trailing
``KEY VALUE`` pairs override the config; flags go before them. Devices, data, output folder,
disk and GPU memory are checked before anything starts (engine/preflight/); a restarted job
resumes by itself (engine/resume.py); stop signals are caught from the first line on.
"""
import logging

from detectron2.checkpoint import DetectionCheckpointer
from detectron2.engine import default_argument_parser

from decon_d2.data import DatasetNotFoundError, DeclaredDatasetError
from decon_d2.config import build_cfg
from decon_d2.engine import InitialWeightsError, PretrainTrainer, setup
from decon_d2.engine.launch import collective_timeout, launch_any
from decon_d2.engine.preflight import command_line_check
from decon_d2.engine.preemption import install_stop_handlers
from decon_d2.engine.resume import OutputDirError, check_output_dir, decide_resume
from decon_d2.finetune import FinetuneConfigError, FinetuneTrainer, SemSegTrainer
from decon_d2.modeling import PRETRAINING_ARCHITECTURES, SEMSEG_ARCHITECTURES

#: errors in what the user gave (config, data, weights): one message, no traceback
USER_ERRORS = (FinetuneConfigError, InitialWeightsError, DeclaredDatasetError,
               DatasetNotFoundError, OutputDirError)


def trainer_class(cfg):
    """The trainer for this config, chosen by ``MODEL.META_ARCHITECTURE``."""
    if cfg.MODEL.META_ARCHITECTURE in PRETRAINING_ARCHITECTURES:
        return PretrainTrainer
    if cfg.MODEL.META_ARCHITECTURE in SEMSEG_ARCHITECTURES:
        return SemSegTrainer
    return FinetuneTrainer


def main(args):
    try:
        return run(args)
    except USER_ERRORS as e:
        raise SystemExit(f"error: {e}") from None


def run(args):
    cfg = setup(args)
    args.resume = decide_resume(args.resume)  # a restarted job continues by itself
    Trainer = trainer_class(cfg)
    Trainer.preflight(cfg, resume=args.resume)  # fails before any work on a bad config
    if args.eval_only:
        model = Trainer.build_model(cfg)
        DetectionCheckpointer(model, save_dir=cfg.OUTPUT_DIR).resume_or_load(
            cfg.MODEL.WEIGHTS, resume=args.resume
        )
        if not cfg.DATASETS.TEST:
            logging.getLogger("decon_d2").warning("DATASETS.TEST is empty: nothing to evaluate.")
            return {}
        return Trainer.test(cfg, model)

    check_output_dir(cfg.OUTPUT_DIR, args.resume, getattr(args, "overwrite", False))
    trainer = Trainer(cfg)
    trainer.resume_or_load(resume=args.resume)
    return trainer.train()


def parser():
    p = default_argument_parser()
    p.add_argument("--overwrite", action="store_true",
                   help="start a new run in an OUTPUT_DIR that holds one, deleting its checkpoints")
    p.add_argument("--dry-run", "--preflight-only", dest="dry_run", action="store_true",
                   help="the preflight and the summary only; exit 0 (all is well) or 2")
    return p


def cli(argv=None):
    install_stop_handlers()  # a scheduler's signal during start-up is remembered, not fatal
    args = parser().parse_args(argv)
    if any(str(o).startswith("--") for o in args.opts):
        raise SystemExit(
            f"flags found among the config overrides {args.opts}: put --flags "
            f"(e.g. --dist-url, --resume) before the KEY VALUE overrides"
        )
    print("Command Line Args:", args)
    cfg = build_cfg(args.config_file, args.opts)
    return launch_any(main, (args,), num_gpus=args.num_gpus, num_machines=args.num_machines,
                      machine_rank=args.machine_rank, dist_url=args.dist_url,
                      timeout=collective_timeout(cfg.SOLVER.DECON.DIST_TIMEOUT_S),
                      preflight=command_line_check(args, cfg), dry_run=args.dry_run)


if __name__ == "__main__":
    cli()
