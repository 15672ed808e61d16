"""``DeConTrainerBase``: Detectron2's ``DefaultTrainer`` with the pieces its ``__init__`` hard-codes
made replaceable; the pre-training and fine-tuning trainers subclass it with classmethods.

``DefaultTrainer.__init__`` builds ``SimpleTrainer``/``AMPTrainer`` (AMP on CUDA in fp16 only),
wraps the model in DDP with ``device_ids=[local rank]`` (which DDP refuses for CPU modules, so
multi-process CPU runs fail) and writes checkpoints in place. Its sequence is repeated here once,
with three changes:

- the step is ``DeConStepTrainer``: autocast in fp16 (with a GradScaler) or bf16 on any device,
  and a NaN guard agreed by every rank that names the last good checkpoint;
- DDP gets no ``device_ids`` for CPU modules;
- the checkpointer is ``DeConCheckpointer`` (atomic writes), holding ``checkpointables(model)``.

Everything else (hooks, evaluation, resume) is Detectron2's.
"""

import logging
import weakref

from detectron2.engine import DefaultTrainer, create_ddp_model, hooks
from detectron2.engine.train_loop import TrainerBase
from detectron2.utils import comm
from detectron2.utils.logger import setup_logger

from .checkpoint import DeConCheckpointer
from .step import DeConStepTrainer, amp_dtype

logger = logging.getLogger(__name__)


class DeConTrainerBase(DefaultTrainer):
    def __init__(self, cfg):
        TrainerBase.__init__(self)
        if not logging.getLogger("detectron2").isEnabledFor(logging.INFO):
            setup_logger()
        cfg = DefaultTrainer.auto_scale_workers(cfg, comm.get_world_size())

        model = self.build_model(cfg)
        optimizer = self.build_optimizer(cfg, model)
        data_loader = self.build_train_loader(cfg)
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
        self.checkpointer = DeConCheckpointer(
            model, cfg.OUTPUT_DIR, trainer=weakref.proxy(self), **self.checkpointables(cfg, model)
        )
        self.start_iter = 0
        self.max_iter = cfg.SOLVER.MAX_ITER
        self.cfg = cfg
        self.register_hooks(self.build_hooks())

    def checkpointables(self, cfg, model) -> dict:
        """Extra objects saved in every checkpoint (name -> object with ``state_dict``)."""
        return {}

    @classmethod
    def preflight(cls, cfg, resume: bool = False) -> None:
        """Checks that must fail before any work (none by default)."""

    def _last_checkpoint_path(self) -> str:
        ckpt = self.checkpointer
        return ckpt.get_checkpoint_file() if ckpt.has_checkpoint() else "none written yet"

    def resume_or_load(self, resume=True):
        """Detectron2's resume/load (``--resume`` = continue this OUTPUT_DIR; ``MODEL.WEIGHTS`` =
        initialise a new run, ignored when a checkpoint is resumed: said in the log)."""
        if resume and self.checkpointer.has_checkpoint() and self.cfg.MODEL.WEIGHTS:
            logger.warning(
                f"--resume found {self.checkpointer.get_checkpoint_file()}; "
                f"MODEL.WEIGHTS={self.cfg.MODEL.WEIGHTS} is ignored."
            )
        super().resume_or_load(resume=resume)

    def build_hooks(self):
        ret = super().build_hooks()
        keep = self.cfg.SOLVER.DECON.CHECKPOINT_MAX_KEEP
        for h in ret:
            if isinstance(h, hooks.PeriodicCheckpointer) and keep > 0:
                h.max_to_keep = keep  # fvcore's retention: deletes the oldest periodic files
        return ret
