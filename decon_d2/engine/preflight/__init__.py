"""The preflight: what would stop a run, found in seconds in the launching process, before any
process is spawned or any model is built (docs/cluster.md, "Before the cluster command").

Every problem is collected (devices, data, output folder, disk, GPU memory), each with where it
is and its fix; any problem stops the run with exit status 2 and one message. What passes is
summarised on one screen: the first lines of every run, and all of ``--dry-run``.
"""
import os
from dataclasses import dataclass, field
from typing import List, Optional


from decon_d2.data import DeclaredDatasetError, register_declared_datasets
from decon_d2.modeling import PRETRAINING_ARCHITECTURES
from decon_d2.variants import variant_name

from ..checkpoint_files import last_checkpoint_name
from .data import check_data
from .devices import check_devices, visible_gpus
from .disk import check_disk
from .gpu_memory import check_gpu_memory
from .output import check_output
from .problems import EXIT_STATUS, PreflightFailed, Problem
from .summary import summary_lines

__all__ = ["run_preflight", "command_line_check", "Report", "PreflightFailed", "Problem", "EXIT_STATUS"]


@dataclass
class Report:
    problems: List[Problem] = field(default_factory=list)
    warnings: List[str] = field(default_factory=list)
    lines: List[str] = field(default_factory=list)

    def raise_if_failed(self):
        if self.problems:
            raise PreflightFailed(self.problems)

    def text(self) -> str:
        return "\n".join(["Preflight summary:"] + ["  " + line for line in self.lines])


def _schedule(cfg, images: int, processes: int):
    from ..pretrain_trainer import derive_schedule

    cfg = cfg.clone()
    cfg.defrost()
    if cfg.SOLVER.DECON.DATASET_SIZE <= 0:
        cfg.SOLVER.DECON.DATASET_SIZE = images
    return derive_schedule(cfg, processes)[1]


def run_preflight(cfg, *, processes: int, local_processes: int, launcher: str, resume: bool,
                  overwrite: bool, visible: Optional[int] = None) -> Report:
    """Check ``cfg`` for a run of ``processes`` ranks, ``local_processes`` on this machine."""
    report = Report()
    pretraining = cfg.MODEL.META_ARCHITECTURE in PRETRAINING_ARCHITECTURES
    visible = visible_gpus() if visible is None else visible
    flag = "--num-gpus" if launcher == "--num-gpus" else "local ranks"
    report.problems += check_devices(cfg, local_processes, visible, flag)
    try:
        register_declared_datasets(cfg)
    except DeclaredDatasetError as e:
        report.problems.append(Problem(str(e), "DATASETS.DECLARED", "see docs/data.md"))
    data_problems, report.warnings, images = check_data(
        cfg, pretraining, expected=cfg.SOLVER.DECON.DATASET_SIZE or None)
    report.problems += data_problems
    report.problems += check_output(cfg, resume, overwrite)
    weights = cfg.MODEL.WEIGHTS
    resuming = resume and os.path.isdir(cfg.OUTPUT_DIR) and last_checkpoint_name(cfg.OUTPUT_DIR)
    if weights and not resuming and "://" not in weights and not os.path.isfile(weights):
        report.problems.append(Problem(
            f"MODEL.WEIGHTS not found: {os.path.abspath(weights)}", "MODEL.WEIGHTS",
            "the path of a checkpoint (python -m decon_d2.convert for a pre-trained one, "
            "docs/convert.md), or '' to start from random weights"))

    schedule = disk = memory = None
    if pretraining and images:
        try:
            schedule = _schedule(cfg, images, processes)
        except ValueError as e:
            report.problems.append(Problem(str(e), "SOLVER.IMS_PER_BATCH, processes",
                                           "a global batch divisible by the processes"))
    if schedule is not None:
        disk_problems, disk = check_disk(cfg, schedule.max_iter)
        report.problems += disk_problems
        if str(cfg.MODEL.DEVICE).startswith("cuda") and visible > 0:
            mem_problems, memory = check_gpu_memory(cfg, schedule.per_gpu_batch, processes)
            report.problems += mem_problems
    d = cfg.MODEL.DECON
    variant = (variant_name(d.HEAD.NAME, d.DECODER_TYPE, d.DECODER_LEVELS) if pretraining
               else "fine-tuning")
    report.lines = summary_lines(cfg, variant=variant, processes=processes, launcher=launcher,
                                 pretraining=pretraining,
                                 schedule=schedule, disk=disk, memory=memory,
                                 warnings=report.warnings)
    return report


def command_line_check(args, cfg):
    """The check ``launch_any`` runs first for ``train_net.py``'s arguments: prints the summary,
    raises ``PreflightFailed`` with every problem found. ``--eval-only`` writes no checkpoint:
    the output folder is not checked."""
    from ..resume import decide_resume

    def check(processes, local_processes, launcher):
        report = run_preflight(
            cfg, processes=processes, local_processes=local_processes, launcher=launcher,
            resume=decide_resume(args.resume),
            overwrite=getattr(args, "overwrite", False) or args.eval_only)
        print(report.text(), flush=True)
        report.raise_if_failed()
    return check
