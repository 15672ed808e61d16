"""How many bytes one checkpoint of a config takes, counted from the model it would build.

The model is built on the meta device (no memory, no time), and the count is what
``DeConCheckpointer.save`` writes: the whole state dict (student, teacher, queues, centres,
buffers) plus the optimizer's state for every trainable parameter (LARS and SGD keep one
momentum tensor each, AdamW two). What this leaves out (scheduler, ``decon_meta``, pickle
headers: kilobytes) is verified against a written file in tests/engine/test_checkpoint_size.py.
Disk planning (docs/cluster.md): ``CheckpointSize.run_bytes``.
"""
from dataclasses import dataclass

import torch
from detectron2.modeling import build_model

#: optimizer tensors kept per trainable parameter (engine/optimizer.py, engine/lars.py)
STATE_TENSORS = {"LARS": 1, "SGD": 1, "AdamW": 2}


@dataclass(frozen=True)
class CheckpointSize:
    tensors: int  # in the model's state dict
    model_bytes: int  # state dict (student, teacher, buffers)
    trainable_params: int
    optimizer_bytes: int  # optimizer state (momentum, Adam moments)

    @property
    def total_bytes(self) -> int:
        return self.model_bytes + self.optimizer_bytes

    def run_bytes(self, keep: int, written: int) -> int:
        """Disk a run's checkpoints need at the most, for ``written`` periodic and stop
        checkpoints with ``CHECKPOINT_MAX_KEEP`` ``keep`` (0: all kept): the kept files, one more
        while the next is written (it is pruned after the rename), and ``model_final.pth``."""
        kept = min(keep, written) if keep > 0 else written
        return self.total_bytes * (kept + 2)


def _nbytes(t: torch.Tensor) -> int:
    return t.numel() * t.element_size()


def checkpoint_size(cfg) -> CheckpointSize:
    """The checkpoint of ``cfg``'s pre-training model, counted on the meta device."""
    cfg = cfg.clone()
    cfg.defrost()
    cfg.MODEL.DEVICE = "meta"
    cfg.MODEL.WEIGHTS = ""
    with torch.device("meta"):
        model = build_model(cfg)
    state = model.state_dict()
    trainable = {id(p): p for p in model.parameters() if p.requires_grad}
    per_param = STATE_TENSORS.get(cfg.SOLVER.DECON.OPTIMIZER, 1)
    return CheckpointSize(
        tensors=len(state),
        model_bytes=sum(_nbytes(t) for t in state.values()),
        trainable_params=sum(p.numel() for p in trainable.values()),
        optimizer_bytes=per_param * sum(_nbytes(p) for p in trainable.values()),
    )
