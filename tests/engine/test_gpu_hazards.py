"""What CUDA and fp16 would break, caught on CPU (docs/gpu.md): one training step of every
variant under fp16 autocast with a GradScaler, watched for tensor factories without a device and
for host syncs. (The scaler's state through a checkpoint and an exact resume: the fp16 run of
tests/engine/test_train.py's kill-and-resume test.)

A full ``PretrainTrainer`` runs 3 iterations of each instant-test config; iteration 1 (a whole
step with its hooks, neither the first nor the last, which write extra things) is watched.
"""
import math

import pytest
import torch
from detectron2.engine import HookBase

from decon_d2.engine import PretrainTrainer as Trainer
from decon_d2.variants import VARIANTS
from tests.helpers import instant_test_cfg, loss_history
from tests.helpers.torch_modes import DeviceGuard, HostSyncCounter

FP16 = ("SOLVER.AMP.ENABLED", True, "SOLVER.AMP.PRECISION", "float16")  # + a GradScaler

#: factories in decon_d2 that may run without a device, and why
ALLOWED = {
    ("decon_d2/modeling/meta_arch.py", "<listcomp>"):
        "stacks the loader's CPU boxes, then moves the stack to the model's device in one copy",
}
#: the loader's code: runs in worker processes, on CPU by design
LOADER = ("decon_d2/data/", "/detectron2/data/", "torchvision/transforms")

STEP, EVENTS = "decon_d2/engine/step.py", "decon_d2/modeling/events.py"
SLOTCON, HEALTH = "decon_d2/modeling/heads/slotcon/ops.py", "decon_d2/modeling/heads/slotcon/health.py"
DENSECL = "decon_d2/modeling/heads/densecl/head.py"
#: host syncs per step at one process (docs/gpu.md, "Host syncs"): for the step, and per level
#: of each head. A change here is a change of that table.
PER_STEP = {(STEP, "_write_metrics", "host copy", "cpu"): 1,   # all loss values, one copy
            (STEP, "run_step", "scalar", "item"): 2,            # GradScaler: inf check, scale log
            (EVENTS, "put_scalars", "scalar", "tolist"): 1}     # all logged values, one copy
PER_LEVEL = {
    "SlotConHead": {(SLOTCON, "slot_contrast", "scalar", "item"): 2,       # global query count
                    (SLOTCON, "slot_contrast", "shape", "nonzero"): 2,     # the queries' rows
                    (SLOTCON, "slot_contrast", "shape", "__getitem__"): 2,  # the present keys
                    (HEALTH, "slot_health", "scalar", "tolist"): 1},       # health logs
    "DenseCLHead": {(DENSECL, "enqueue", "scalar", "__int__"): 1},         # queue pointer
}


def budget(model):
    counts = dict(PER_STEP)
    for head in model.student.heads.values():
        for site, n in PER_LEVEL[type(head).__name__].items():
            counts[site] = counts.get(site, 0) + n
    return counts


class _Watch(HookBase):
    """Enters the modes before iteration ``at`` and leaves them after it (registered last)."""

    def __init__(self, modes, at=1):
        self.modes, self.at = modes, at

    def before_step(self):
        if self.trainer.iter == self.at:
            for m in self.modes:
                m.__enter__()

    def after_step(self):
        if self.trainer.iter == self.at:
            for m in reversed(self.modes):
                m.__exit__(None, None, None)


@pytest.mark.slow
@pytest.mark.parametrize("variant", sorted(VARIANTS))
def test_fp16_step_of_every_variant_on_cpu(variant, tmp_path):
    cfg = instant_test_cfg(variant, *FP16, "SOLVER.MAX_ITER", 3, output_dir=tmp_path)
    trainer = Trainer(cfg)
    trainer.resume_or_load(resume=False)
    guard, syncs = DeviceGuard(ALLOWED, skip=LOADER), HostSyncCounter(skip=LOADER)
    trainer.register_hooks([_Watch([guard, syncs])])
    trainer.train()

    losses = loss_history(trainer)
    assert len(losses) == 3 and all(map(math.isfinite, losses)), losses
    scale = trainer._trainer.grad_scaler.get_scale()
    assert math.isfinite(scale) and scale > 0
    assert guard.checked > 0 and guard.violations == [], (
        "tensor factories without a device (add device=, or list the site in ALLOWED with why)")
    ours = {k: v for k, v in syncs.counts.items() if k[0].startswith("decon_d2/")}
    assert ours == budget(trainer.model), (
        "host syncs per step changed: update docs/gpu.md ('Host syncs') and PER_STEP/PER_LEVEL")
