"""``Trainer``: Detectron2's ``DefaultTrainer`` with DeCon's pre-training pieces plugged in.

For ``MODEL.META_ARCHITECTURE: "DeCon"``: the two-view loader (``decon_d2.data``) with a sampler
that resumes at the right position, LARS/SGD/AdamW, per-iteration warm-up + cosine lr, the EMA
teacher hook, per-iteration seeding, AMP (fp16 or bf16, any device), the NaN guard, the atomic
checkpointer with ``decon_meta``. For any other meta-architecture (fine-tuning a detector) it
keeps Detectron2's loader, optimiser, scheduler and hooks, and adds the COCO evaluator.
Schedules can be given in epochs (``SOLVER.DECON.EPOCHS``); the arithmetic is logged at start.
"""

import logging
import os
import weakref

from detectron2.data import (
    DatasetCatalog,
    build_detection_train_loader,
    get_detection_dataset_dicts,
)
from detectron2.engine import DefaultTrainer, create_ddp_model, hooks
from detectron2.engine.train_loop import TrainerBase
from detectron2.evaluation import COCOEvaluator
from detectron2.solver import build_lr_scheduler as d2_build_lr_scheduler
from detectron2.solver import build_optimizer as d2_build_optimizer
from detectron2.solver.lr_scheduler import LRMultiplier
from detectron2.utils import comm
from detectron2.utils.logger import setup_logger

import decon_d2.modeling  # noqa: F401  (registers the DeCon meta-architecture)
from decon_d2.finetune import check_finetune_setup, subset_records, write_results

from .checkpoint import DeConCheckpointer, DeConMeta
from .hooks import IterationSeedHook, MomentumTeacherHook, unwrap_ddp
from .optimizer import build_optimizer as decon_build_optimizer
from .sampler import ResumableTrainingSampler, SampleSeededMapper
from .schedules import compute_schedule, scaled_lr, warmup_cosine_param_scheduler
from .step import DeConStepTrainer, amp_dtype

logger = logging.getLogger(__name__)


def is_pretraining(cfg) -> bool:
    return cfg.MODEL.META_ARCHITECTURE == "DeCon"


def dataset_size(cfg) -> int:
    """Images per epoch: ``SOLVER.DECON.DATASET_SIZE`` or the record count of DATASETS.TRAIN."""
    if cfg.SOLVER.DECON.DATASET_SIZE > 0:
        return cfg.SOLVER.DECON.DATASET_SIZE
    return sum(len(DatasetCatalog.get(name)) for name in cfg.DATASETS.TRAIN)


def derive_schedule(cfg, world_size: int):
    """Return ``(cfg with MAX_ITER/WARMUP_ITERS filled in, ScheduleArithmetic)``."""
    epochs = cfg.SOLVER.DECON.EPOCHS
    n = dataset_size(cfg) if (epochs > 0 or is_pretraining(cfg)) else 0
    sched = compute_schedule(
        dataset_size=n,
        global_batch=cfg.SOLVER.IMS_PER_BATCH,
        world_size=world_size,
        epochs=epochs,
        warmup_epochs=cfg.SOLVER.DECON.WARMUP_EPOCHS,
        max_iter=cfg.SOLVER.MAX_ITER,
        warmup_iters=cfg.SOLVER.WARMUP_ITERS,
        base_lr=cfg.SOLVER.BASE_LR,
        # Detectron2's optimiser (fine-tuning) uses BASE_LR as written.
        lr_scaling=cfg.SOLVER.DECON.LR_SCALING if is_pretraining(cfg) else "none",
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


class Trainer(DefaultTrainer):
    def __init__(self, cfg):
        # DefaultTrainer.__init__ hard-codes SimpleTrainer/AMPTrainer and its checkpointer, so
        # this is its sequence with our step trainer, schedule arithmetic and checkpointer.
        TrainerBase.__init__(self)
        if not logging.getLogger("detectron2").isEnabledFor(logging.INFO):
            setup_logger()
        if is_pretraining(cfg) and cfg.SOLVER.REFERENCE_WORLD_SIZE:
            logger.warning("SOLVER.REFERENCE_WORLD_SIZE != 0: Detectron2 will rescale batch, lr "
                           "and iterations on top of the epoch arithmetic; keep it 0.")
        cfg = DefaultTrainer.auto_scale_workers(cfg, comm.get_world_size())
        cfg, self.schedule = derive_schedule(cfg, comm.get_world_size())
        if is_pretraining(cfg) or cfg.SOLVER.DECON.EPOCHS > 0:
            logger.info(f"Schedule: {self.schedule.describe()}")
        self._data_seed = data_seed(cfg)

        model = self.build_model(cfg)
        optimizer = self.build_optimizer(cfg, model)
        data_loader = self.build_train_loader(cfg, seed=self._data_seed)
        device_type = next(model.parameters()).device.type
        # Detectron2 passes device_ids=[local rank], which DDP refuses for CPU modules (gloo).
        cpu = {"device_ids": None} if device_type == "cpu" else {}
        model = create_ddp_model(model, broadcast_buffers=False, **cpu)
        self._trainer = DeConStepTrainer(
            model,
            data_loader,
            optimizer,
            precision=amp_dtype(cfg),
            device_type=device_type,
            last_checkpoint=self._last_checkpoint_path,
        )
        self.scheduler = self.build_lr_scheduler(cfg, optimizer)
        extra = {}
        if is_pretraining(cfg):
            levels = getattr(unwrap_ddp(model), "decoder_levels", None)
            extra["decon_meta"] = DeConMeta(cfg, lambda: self.iter, decoder_levels=levels)
        self.checkpointer = DeConCheckpointer(
            model, cfg.OUTPUT_DIR, trainer=weakref.proxy(self), **extra
        )
        self.start_iter = 0
        self.max_iter = cfg.SOLVER.MAX_ITER
        self.cfg = cfg
        self.register_hooks(self.build_hooks())

    def _last_checkpoint_path(self) -> str:
        ckpt = self.checkpointer
        return ckpt.get_checkpoint_file() if ckpt.has_checkpoint() else "none written yet"

    def resume_or_load(self, resume=True):
        """Detectron2's resume/load; a resumed pre-training also restarts its sampler where the
        interrupted run stopped (``--resume`` = continue this OUTPUT_DIR; ``MODEL.WEIGHTS`` =
        initialise a new run, ignored when a checkpoint is resumed)."""
        resuming = resume and self.checkpointer.has_checkpoint()
        if resuming and self.cfg.MODEL.WEIGHTS:
            logger.warning(
                f"--resume found {self.checkpointer.get_checkpoint_file()}; "
                f"MODEL.WEIGHTS={self.cfg.MODEL.WEIGHTS} is ignored."
            )
        super().resume_or_load(resume=resume)
        if resuming and is_pretraining(self.cfg) and self.start_iter > 0:
            logger.info(
                f"Resuming at iteration {self.start_iter}: the sampler skips the "
                f"{self.start_iter} batches already consumed."
            )
            self._trainer.reset_data_loader(
                lambda: self.build_train_loader(
                    self.cfg, seed=self._data_seed, start_iter=self.start_iter
                )
            )

    def build_hooks(self):
        ret = super().build_hooks()
        keep = self.cfg.SOLVER.DECON.CHECKPOINT_MAX_KEEP
        for h in ret:
            if isinstance(h, hooks.PeriodicCheckpointer) and keep > 0:
                h.max_to_keep = keep  # fvcore's retention: deletes the oldest periodic files
        if not is_pretraining(self.cfg):
            return ret
        # The teacher update changes weights, so it goes before the checkpointer (saved
        # checkpoints hold the post-update teacher), as Detectron2 does for PreciseBN. The
        # checkpointer exists on the main process only: elsewhere insert before EvalHook.
        anchor = next(
            i
            for i, h in enumerate(ret)
            if isinstance(h, (hooks.PeriodicCheckpointer, hooks.EvalHook))
        )
        dec = self.cfg.SOLVER.DECON
        ret.insert(
            anchor, MomentumTeacherHook(dec.TEACHER_BASE_MOMENTUM, dec.TEACHER_FINAL_MOMENTUM)
        )
        if seeds_each_step(self.cfg):
            ret.insert(0, IterationSeedHook(self.cfg.SEED))  # first: before any before_step
        return ret

    @classmethod
    def build_optimizer(cls, cfg, model):
        if is_pretraining(cfg):
            return decon_build_optimizer(cfg, model)
        return d2_build_optimizer(cfg, model)

    @classmethod
    def build_lr_scheduler(cls, cfg, optimizer):
        """Pre-training: linear warm-up from WARMUP_FACTOR x lr, cosine to BASE_LR_END, per iter."""
        if not is_pretraining(cfg):
            return d2_build_lr_scheduler(cfg, optimizer)
        lr = scaled_lr(cfg.SOLVER.BASE_LR, cfg.SOLVER.IMS_PER_BATCH, cfg.SOLVER.DECON.LR_SCALING)
        sched = warmup_cosine_param_scheduler(
            cfg.SOLVER.MAX_ITER,
            cfg.SOLVER.WARMUP_ITERS,
            cfg.SOLVER.WARMUP_FACTOR,
            min(cfg.SOLVER.BASE_LR_END / lr, 1.0) if lr > 0 else 0.0,
        )
        return LRMultiplier(optimizer, multiplier=sched, max_iter=cfg.SOLVER.MAX_ITER)

    @classmethod
    def preflight(cls, cfg, resume: bool = False) -> None:
        """Checks that must fail before any work. Fine-tuning: the config against the converted
        weights' pre-training conventions (skipped when ``--resume`` finds a checkpoint, which
        then replaces MODEL.WEIGHTS)."""
        if is_pretraining(cfg):
            return
        if resume and os.path.isfile(os.path.join(cfg.OUTPUT_DIR, "last_checkpoint")):
            return
        for warning in check_finetune_setup(cfg):
            logger.warning(warning)

    @classmethod
    def build_train_loader(cls, cfg, seed=None, start_iter: int = 0):
        if not is_pretraining(cfg):
            fraction = cfg.DATASETS.DECON.TRAIN_FRACTION
            if fraction >= 1.0:
                return build_detection_train_loader(cfg)
            records = get_detection_dataset_dicts(
                cfg.DATASETS.TRAIN,
                filter_empty=cfg.DATALOADER.FILTER_EMPTY_ANNOTATIONS,
                min_keypoints=cfg.MODEL.ROI_KEYPOINT_HEAD.MIN_KEYPOINTS_PER_IMAGE
                if cfg.MODEL.KEYPOINT_ON else 0,
            )
            subset = subset_records(records, fraction, cfg.DATASETS.DECON.TRAIN_FRACTION_SEED)
            logger.info(f"Limited-data fine-tuning: {len(subset)} of {len(records)} images "
                        f"(TRAIN_FRACTION {fraction}, seed "
                        f"{cfg.DATASETS.DECON.TRAIN_FRACTION_SEED}).")
            return build_detection_train_loader(cfg, dataset=subset)
        from decon_d2.data import TwoViewMapper, build_pretrain_train_loader

        seed = data_seed(cfg) if seed is None else seed
        per_gpu = cfg.SOLVER.IMS_PER_BATCH // comm.get_world_size()
        # Listed once here and handed to the loader (ImageNet's listing takes a while).
        records = get_detection_dataset_dicts(cfg.DATASETS.TRAIN, filter_empty=False)
        size = len(records)
        exact = seeds_each_step(cfg)
        sampler = ResumableTrainingSampler(
            size, seed=seed, start_index=start_iter * per_gpu, seed_samples=exact
        )
        kwargs = {"mapper": SampleSeededMapper(TwoViewMapper(cfg))} if exact else {}
        return build_pretrain_train_loader(
            cfg, dataset=records, sampler=sampler, seed=seed, **kwargs
        )

    @classmethod
    def test(cls, cfg, model, evaluators=None):
        """Detectron2's evaluation, plus ``OUTPUT_DIR/inference/results.json`` (bbox/segm AP,
        AP50, AP75, APs/m/l per data set) on the main process."""
        results = super().test(cfg, model, evaluators)
        if comm.is_main_process() and results:
            # Detectron2 un-nests the result of a single test set: name it again.
            named = results if len(cfg.DATASETS.TEST) > 1 else {cfg.DATASETS.TEST[0]: results}
            write_results(named, os.path.join(cfg.OUTPUT_DIR, "inference"),
                          extra={"weights": cfg.MODEL.WEIGHTS, "datasets": list(cfg.DATASETS.TEST)})
        return results

    @classmethod
    def build_evaluator(cls, cfg, dataset_name, output_folder=None):
        output_folder = output_folder or os.path.join(cfg.OUTPUT_DIR, "inference")
        # Tasks named explicitly: inferred from predictions, a model that detects nothing yet
        # would silently get no mask AP entry.
        tasks = ("bbox", "segm") if cfg.MODEL.MASK_ON else ("bbox",)
        return COCOEvaluator(dataset_name, tasks=tasks, output_dir=output_folder)
