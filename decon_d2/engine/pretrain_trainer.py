"""``PretrainTrainer``: the trainer of self-supervised pre-training (``MODEL.META_ARCHITECTURE``
in ``decon_d2.modeling.PRETRAINING_ARCHITECTURES``).

On top of ``DeConTrainerBase``: the epoch -> iteration arithmetic (logged at start), the two-view
loader with a sampler that resumes at the right position, LARS/SGD/AdamW, per-iteration warm-up
+ cosine lr, the EMA teacher hook, per-iteration seeding, ``decon_meta`` in checkpoints, and a
checkpoint-and-stop on SIGTERM/SIGUSR1 (``preemption.py``, docs/cluster.md).
"""

import logging
import os

from detectron2.data import DatasetCatalog, get_detection_dataset_dicts
from detectron2.engine import hooks
from detectron2.solver.lr_scheduler import LRMultiplier
from detectron2.utils import comm
from detectron2.utils.file_io import PathManager

from decon_d2.data import TwoViewMapper, build_pretrain_train_loader
from decon_d2.config.explicit_keys import ignored_in_pretraining, is_explicit
from decon_d2.utils.atomic import atomic_write

from .base_trainer import DeConTrainerBase
from .checkpoint import DeConMeta
from .hooks import DenseLossWarmupHook, IterationSeedHook, MomentumTeacherHook, unwrap_ddp
from .initial_weights import load_initial_weights
from .optimizer import build_optimizer
from .preemption import PreemptionHook
from .probe_hook import OnlineProbeHook
from .resume import check_resumed_record
from .sampler import ResumableTrainingSampler, SampleSeededMapper
from .schedules import compute_schedule, scaled_lr, warmup_cosine_param_scheduler
from .slot_map_hook import SlotMapHook

logger = logging.getLogger(__name__)


def dataset_size(cfg) -> int:
    """Images per epoch: ``SOLVER.DECON.DATASET_SIZE`` or the record count of DATASETS.TRAIN."""
    if cfg.SOLVER.DECON.DATASET_SIZE > 0:
        return cfg.SOLVER.DECON.DATASET_SIZE
    return sum(len(DatasetCatalog.get(name)) for name in cfg.DATASETS.TRAIN)


def derive_schedule(cfg, world_size: int):
    """Return ``(cfg with MAX_ITER/WARMUP_ITERS filled in, ScheduleArithmetic)``; an explicit
    ``SOLVER.MAX_ITER`` / ``SOLVER.WARMUP_ITERS`` wins over the epochs (explicit_keys.py)."""
    sched = compute_schedule(
        dataset_size=dataset_size(cfg),
        global_batch=cfg.SOLVER.IMS_PER_BATCH,
        world_size=world_size,
        epochs=cfg.SOLVER.DECON.EPOCHS,
        warmup_epochs=cfg.SOLVER.DECON.WARMUP_EPOCHS,
        max_iter=cfg.SOLVER.MAX_ITER,
        warmup_iters=cfg.SOLVER.WARMUP_ITERS,
        base_lr=cfg.SOLVER.BASE_LR,
        lr_scaling=cfg.SOLVER.DECON.LR_SCALING,
        keep_max_iter=is_explicit(cfg, "SOLVER.MAX_ITER"),
        keep_warmup_iters=is_explicit(cfg, "SOLVER.WARMUP_ITERS"),
    )
    if (sched.max_iter, sched.warmup_iters) != (cfg.SOLVER.MAX_ITER, cfg.SOLVER.WARMUP_ITERS):
        cfg = cfg.clone()
        cfg.defrost()
        cfg.SOLVER.MAX_ITER, cfg.SOLVER.WARMUP_ITERS = sched.max_iter, sched.warmup_iters
        cfg.freeze()
    return cfg, sched


def seeds_each_step(cfg) -> bool:
    """Exact resume: re-seed per iteration (``IterationSeedHook``) and per sample
    (``SampleSeededMapper``); needs a fixed SEED."""
    return cfg.SOLVER.DECON.SEED_EACH_ITER and cfg.SEED >= 0


def data_seed(cfg) -> int:
    """Seed of the sampler stream: SEED when fixed, else one shared random seed per run."""
    return cfg.SEED if cfg.SEED >= 0 else comm.shared_random_seed()


class PretrainTrainer(DeConTrainerBase):
    def __init__(self, cfg):
        world = comm.get_world_size()
        if cfg.SOLVER.REFERENCE_WORLD_SIZE:
            logger.warning("SOLVER.REFERENCE_WORLD_SIZE != 0: Detectron2 will rescale batch, lr "
                           "and iterations on top of the epoch arithmetic; keep it 0.")
        # Iterations come from epochs before anything is built (the base's own auto-scaling is
        # then a no-op: Detectron2 sets REFERENCE_WORLD_SIZE to the world size it scaled for).
        cfg, self.schedule = derive_schedule(self.auto_scale_workers(cfg, world), world)
        logger.info(f"Schedule: {self.schedule.describe()}")
        for note in self.schedule.notes:
            logger.warning(note)
        for warning in ignored_in_pretraining(cfg):
            logger.warning(warning)
        super().__init__(cfg)

    def checkpointables(self, cfg, model):
        self.decon_meta = DeConMeta(cfg, unwrap_ddp(model), lambda: self.iter)
        return {"decon_meta": self.decon_meta}

    def resume_or_load(self, resume=True):
        """Detectron2's resume/load; a resumed run also restarts its sampler where the
        interrupted run stopped. A new run with ``MODEL.WEIGHTS`` starts student and teacher
        from that file, whatever its layout (continual pre-training, initial_weights.py)."""
        resuming = resume and self.checkpointer.has_checkpoint()
        if not resuming and self.cfg.MODEL.WEIGHTS:
            self.init_report = load_initial_weights(unwrap_ddp(self.model), self.cfg)
            logger.info("Continual pre-training, " + self.init_report.format_table())
            if comm.is_main_process():
                PathManager.mkdirs(self.cfg.OUTPUT_DIR)
                path = os.path.join(self.cfg.OUTPUT_DIR, "initial_weights.json")
                with atomic_write(path, "w") as f:
                    f.write(self.init_report.to_json())
            self.start_iter = 0
            return
        super().resume_or_load(resume=resume)
        if resuming:
            check_resumed_record(self.decon_meta.loaded, self.decon_meta.record(),
                                 self.checkpointer.resumed_from)
        if resuming and self.start_iter > 0:
            logger.info(
                f"Resuming at iteration {self.start_iter}: the sampler skips the "
                f"{self.start_iter} batches already consumed."
            )
            self._trainer.reset_data_loader(
                lambda: self.build_train_loader(self.cfg, start_iter=self.start_iter)
            )

    def build_hooks(self):
        ret = super().build_hooks()
        # The teacher update changes weights, so it goes before the checkpointer (saved
        # checkpoints hold the post-update teacher), as Detectron2 does for PreciseBN. The
        # checkpointer exists on the main process only: elsewhere insert before EvalHook.
        anchor = next(
            i for i, h in enumerate(ret)
            if isinstance(h, (hooks.PeriodicCheckpointer, hooks.EvalHook))
        )
        dec = self.cfg.SOLVER.DECON
        ret.insert(
            anchor, MomentumTeacherHook(dec.TEACHER_BASE_MOMENTUM, dec.TEACHER_FINAL_MOMENTUM)
        )
        warmup = self.cfg.MODEL.DECON.DENSECL.LAMBDA_WARMUP_ITERS
        if warmup > 0:
            ret.insert(anchor, DenseLossWarmupHook(warmup))  # a before_step hook
        # Monitoring reads the updated teacher and writes before the PeriodicWriter (last).
        anchor = next(i for i, h in enumerate(ret) if isinstance(h, hooks.EvalHook))
        test = self.cfg.TEST.DECON
        if test.VIS_PERIOD > 0:
            ret.insert(anchor, SlotMapHook(self.cfg))
        if test.PROBE_PERIOD > 0:
            ret.insert(anchor, OnlineProbeHook(self.cfg))
        if seeds_each_step(self.cfg):
            ret.insert(0, IterationSeedHook(self.cfg.SEED))  # first: before any before_step
        # Last: its stop checkpoint sees this step's teacher and lr updates (preemption.py).
        ret.append(PreemptionHook(self.checkpointer))
        return ret

    @classmethod
    def build_optimizer(cls, cfg, model):
        return build_optimizer(cfg, model)

    @classmethod
    def build_lr_scheduler(cls, cfg, optimizer):
        """Linear warm-up from WARMUP_FACTOR x lr, cosine to BASE_LR_END, per iteration."""
        lr = scaled_lr(cfg.SOLVER.BASE_LR, cfg.SOLVER.IMS_PER_BATCH, cfg.SOLVER.DECON.LR_SCALING)
        sched = warmup_cosine_param_scheduler(
            cfg.SOLVER.MAX_ITER,
            cfg.SOLVER.WARMUP_ITERS,
            cfg.SOLVER.WARMUP_FACTOR,
            min(cfg.SOLVER.BASE_LR_END / lr, 1.0) if lr > 0 else 0.0,
        )
        return LRMultiplier(optimizer, multiplier=sched, max_iter=cfg.SOLVER.MAX_ITER)

    @classmethod
    def build_train_loader(cls, cfg, start_iter: int = 0):
        """Two-view batches; the stream starts ``start_iter`` batches in (resume)."""
        seed = data_seed(cfg)
        per_gpu = cfg.SOLVER.IMS_PER_BATCH // comm.get_world_size()
        # Listed once here and handed to the loader (ImageNet's listing takes a while).
        records = get_detection_dataset_dicts(cfg.DATASETS.TRAIN, filter_empty=False)
        exact = seeds_each_step(cfg)
        sampler = ResumableTrainingSampler(
            len(records), seed=seed, start_index=start_iter * per_gpu, seed_samples=exact
        )
        kwargs = {"mapper": SampleSeededMapper(TwoViewMapper(cfg))} if exact else {}
        return build_pretrain_train_loader(
            cfg, dataset=records, sampler=sampler, seed=seed, **kwargs
        )
