"""``DeConTrainerBase``: Detectron2's ``DefaultTrainer`` with the pieces its ``__init__`` hard-codes
made replaceable; the pre-training and fine-tuning trainers subclass it with classmethods.

``DefaultTrainer.__init__`` builds ``SimpleTrainer``/``AMPTrainer`` (AMP on CUDA in fp16 only),
wraps the model in DDP with ``device_ids=[local rank]`` (which DDP refuses for CPU modules, so
multi-process CPU runs fail) and writes checkpoints in place. Its sequence is repeated here once,
with three changes:

- the step is ``DeConStepTrainer``: autocast in fp16 (with a GradScaler) or bf16 on any device,
  and a NaN guard agreed by every rank that names the last good checkpoint;
- DDP gets no ``device_ids`` for CPU modules, and this process's current CUDA device (not its
  local rank: a task may see only its own GPU) for CUDA ones (``ddp_device_kwargs``);
- the checkpointer is ``DeConCheckpointer`` (atomic writes, retention over the whole folder),
  holding ``checkpointables(model)``; rank 0 first sweeps what interrupted writes left.

Everything else (hooks, evaluation, resume) is Detectron2's.
"""

import logging
import weakref

import torch
from detectron2.engine import DefaultTrainer, create_ddp_model
from detectron2.engine.train_loop import TrainerBase
from detectron2.utils import comm
from detectron2.utils.logger import setup_logger

from .checkpoint import DeConCheckpointer
from .checkpoint_files import sweep_temp_files
from .step import DeConStepTrainer, amp_dtype

logger = logging.getLogger(__name__)


def ddp_device_kwargs(device_type: str) -> dict:
    """DDP's ``device_ids``: none for CPU modules (DDP refuses them), the current CUDA device
    (set by the launcher, ``launch.cuda_device``) for CUDA ones. Detectron2 passes the local
    rank, which is wrong where each task sees one GPU."""
    if device_type == "cuda":
        return {"device_ids": [torch.cuda.current_device()]}
    return {"device_ids": None}


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
        model = create_ddp_model(model, broadcast_buffers=False, **ddp_device_kwargs(device_type))
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
        self.checkpointer.max_keep = cfg.SOLVER.DECON.CHECKPOINT_MAX_KEEP
        if comm.is_main_process():
            sweep_temp_files(cfg.OUTPUT_DIR)
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

