"""``DeConStepTrainer``: one optimisation step, with AMP on any device and a loud NaN guard.

Detectron2's ``AMPTrainer`` asserts CUDA and always makes a GradScaler; this step trainer runs
``torch.autocast`` on the model's device type with ``float16`` (plus a GradScaler) or ``bfloat16``
(no scaler needed: bf16 has fp32's exponent range), or plain fp32 when AMP is off. The model keeps
its loss maths in fp32 itself (contracts.md). Everything else is ``SimpleTrainer``'s logic.
"""

import logging
import time
from typing import Callable, Mapping, Optional

import torch
from detectron2.engine.train_loop import SimpleTrainer
from detectron2.utils import comm
from detectron2.utils.events import get_event_storage

from decon_d2.data.corrupt import count_corrupt

logger = logging.getLogger(__name__)

_DTYPES = {"float16": torch.float16, "bfloat16": torch.bfloat16}


def amp_dtype(cfg) -> Optional[torch.dtype]:
    """``SOLVER.AMP`` -> autocast dtype, or None for fp32."""
    if not cfg.SOLVER.AMP.ENABLED:
        return None
    if cfg.SOLVER.AMP.PRECISION not in _DTYPES:
        raise ValueError(f"SOLVER.AMP.PRECISION must be one of {sorted(_DTYPES)}")
    return _DTYPES[cfg.SOLVER.AMP.PRECISION]


def format_loss_breakdown(loss_dict: Mapping[str, float]) -> str:
    """One line per loss term, then the total: what a NaN report needs to show."""
    width = max([len(k) for k in loss_dict] + [5])
    rows = [f"  {k.ljust(width)}  {v:.6g}" for k, v in loss_dict.items()]
    rows.append(f"  {'total'.ljust(width)}  {sum(loss_dict.values()):.6g}")
    return "\n".join(rows)


class DeConStepTrainer(SimpleTrainer):
    def __init__(
        self,
        model,
        data_loader,
        optimizer,
        *,
        precision: Optional[torch.dtype] = None,
        device_type: str = "cpu",
        last_checkpoint: Callable[[], str] = lambda: "none",
    ):
        """
        Args:
            precision: autocast dtype (``torch.float16`` / ``torch.bfloat16``) or None for fp32.
            device_type: "cuda" or "cpu", for autocast and the GradScaler.
            last_checkpoint: returns the path of the last checkpoint written, for the NaN report.
        """
        super().__init__(model, data_loader, optimizer)
        self.precision = precision
        self.device_type = device_type
        self.grad_scaler = torch.amp.GradScaler(device_type) if precision == torch.float16 else None
        self.last_checkpoint = last_checkpoint
        self.corrupt_images_replaced = 0

    def run_step(self):
        assert self.model.training, "[DeConStepTrainer] model was changed to eval mode!"
        start = time.perf_counter()
        data = next(self._data_loader_iter)
        data_time = time.perf_counter() - start
        self._count_corrupt(data)

        # Before the forward, not after it as in SimpleTrainer: the last step's gradients (one
        # copy of the student's weights) are freed before the activations peak (same numbers).
        self.optimizer.zero_grad()
        with torch.autocast(
            self.device_type, dtype=self.precision, enabled=self.precision is not None
        ):
            loss_dict = self.model(data)
        if isinstance(loss_dict, torch.Tensor):
            loss_dict = {"total_loss": loss_dict}
        losses = sum(v.float() for v in loss_dict.values())

        if self.grad_scaler is not None:
            self.grad_scaler.scale(losses).backward()
        else:
            losses.backward()
        self.after_backward()
        # Checks the losses (raises before the weights change), gathers and logs them.
        self._write_metrics(loss_dict, data_time)
        if self.grad_scaler is not None:
            self.grad_scaler.step(self.optimizer)
            self.grad_scaler.update()
            get_event_storage().put_scalar("amp/grad_scale", self.grad_scaler.get_scale())
        else:
            self.optimizer.step()

    def _count_corrupt(self, data):
        """Cumulative count of unreadable images the loader replaced (``num_corrupt_replaced``)."""
        if not isinstance(data, (list, tuple)):
            return
        new = count_corrupt(d for d in data if isinstance(d, dict))
        if new:
            self.corrupt_images_replaced += new
            logger.warning(
                f"rank {comm.get_rank()}: {new} corrupt image(s) replaced at "
                f"iteration {self.iter} ({self.corrupt_images_replaced} so far)"
            )
        get_event_storage().put_scalar(
            "data/corrupt_images_replaced", self.corrupt_images_replaced, smoothing_hint=False
        )

    def _write_metrics(self, loss_dict, data_time, prefix="", iter=None):
        # Checked on every process and agreed by all of them (Detectron2 checks only the gathered
        # mean on the main one): a NaN on one rank reaches every rank's gradients through DDP, so
        # all ranks stop at the same iteration, before the optimiser applies the bad gradients,
        # instead of the healthy ones waiting in the next collective until it times out.
        # One copy of all loss values to the host per step (docs/gpu.md, "Host syncs"); the values
        # Detectron2 then logs are read from that copy, not from the device once per loss.
        names = list(loss_dict)
        on_host = torch.stack([loss_dict[k].detach().float().reshape(()) for k in names]).cpu()
        finite = bool(torch.isfinite(on_host).all())
        if comm.get_world_size() > 1:
            device = loss_dict[names[0]].device  # (`iter` is shadowed here)
            flag = torch.tensor([1.0 if finite else 0.0], device=device)
            torch.distributed.all_reduce(flag, op=torch.distributed.ReduceOp.MIN)
            everywhere = bool(flag.item())
        else:
            everywhere = finite
        if not everywhere:
            values = dict(zip(names, on_host.tolist()))
            where = f"rank {comm.get_rank()}" if not finite else "another rank"
            raise FloatingPointError(
                f"Loss became infinite or NaN at iteration={self.iter} "
                f"({where}); the weights were not updated with it.\n"
                f"Per-term losses:\n{format_loss_breakdown(values)}\n"
                f"Last good checkpoint: {self.last_checkpoint()}\n"
                f"Resume from it with --resume (same OUTPUT_DIR), e.g. after lowering "
                f"SOLVER.BASE_LR or switching SOLVER.AMP.PRECISION to bfloat16."
            )
        super()._write_metrics(dict(zip(names, on_host)), data_time, prefix=prefix, iter=iter)

    def state_dict(self):
        ret = super().state_dict()
        if self.grad_scaler is not None:
            ret["grad_scaler"] = self.grad_scaler.state_dict()
        return ret

    def load_state_dict(self, state_dict):
        super().load_state_dict(state_dict)
        if self.grad_scaler is not None and "grad_scaler" in state_dict:
            self.grad_scaler.load_state_dict(state_dict["grad_scaler"])
