"""Instant-test configs and synthetic two-view batches, for the tests and the benchmark (as
``detectron2.utils.testing`` serves Detectron2's own tests); a gloo group for spawned test
workers and a kill-and-resume driver for resume tests."""
import contextlib
import os

import torch
import torch.distributed as dist
from detectron2.engine import HookBase
from detectron2.modeling import build_model

from decon_d2.engine.setup import build_cfg

from .paths import config_path

__all__ = ["INSTANT_TEST_VARIANTS", "instant_test_cfg", "build_instant_model", "decon_opts",
           "synthetic_batch", "gloo_process_group", "loss_history", "kill_and_resume"]

#: variant name -> its instant-test config under configs/quick_schedules/
INSTANT_TEST_VARIANTS = {
    "decon_ml": "quick_schedules/decon_ml_instant_test.yaml",
    "decon_sl": "quick_schedules/decon_sl_instant_test.yaml",
    "encoder_only": "quick_schedules/slotcon_instant_test.yaml",
    "densecl": "quick_schedules/densecl_instant_test.yaml",
    "decon_densecl_sl": "quick_schedules/decon_densecl_sl_instant_test.yaml",
    "decon_densecl_ml": "quick_schedules/decon_densecl_ml_instant_test.yaml",
}
#: overrides that turn the instant tests' ResNet-18 into the real ResNet-50 (Mask R-CNN keys)
R50_OPTS = ("MODEL.RESNETS.DEPTH", 50, "MODEL.RESNETS.RES2_OUT_CHANNELS", 256)


def decon_opts(**decon):
    """``decon_opts(SKIP_CHANNEL_DROPOUT=0.0)`` -> ``["MODEL.DECON.SKIP_CHANNEL_DROPOUT", 0.0]``."""
    return [x for k, v in decon.items() for x in (f"MODEL.DECON.{k}", v)]


def instant_test_cfg(variant="decon_ml", *opts, r50=False, output_dir=None):
    """The frozen instant-test config of ``variant`` with ``KEY, VALUE, ...`` overrides;
    ``r50``: the real ResNet-50 (Mask R-CNN's keys) instead of ResNet-18."""
    extra = list(R50_OPTS) if r50 else []
    if output_dir is not None:
        extra += ["OUTPUT_DIR", str(output_dir)]
    return build_cfg(config_path(INSTANT_TEST_VARIANTS[variant]), [*extra, *opts])


def build_instant_model(variant="decon_ml", *opts, r50=False, seed=0):
    """The instant-test DeCon model (arguments as ``instant_test_cfg``), seeded, teacher =
    student, in training mode."""
    torch.manual_seed(seed)
    model = build_model(instant_test_cfg(variant, *opts, r50=r50))
    model.copy_student_to_teacher()
    return model.train()


def synthetic_batch(n, crop, seed=0):
    """``n`` two-view samples in the contract format (docs/contracts.md): random uint8 views,
    partly overlapping boxes, one flipped view in two, so every loss term runs."""
    g = torch.Generator().manual_seed(seed)
    out = []
    for i in range(n):
        out.append({
            "file_name": f"synthetic_{i}",
            "image_id": i,
            "view1": torch.randint(0, 256, (3, crop, crop), dtype=torch.uint8, generator=g),
            "view2": torch.randint(0, 256, (3, crop, crop), dtype=torch.uint8, generator=g),
            "box1": torch.tensor([0.1, 0.2, 0.8, 0.9]),
            "box2": torch.tensor([0.0, 0.05, 0.75, 0.6]),
            "flip1": bool(i % 2),
            "flip2": False,
        })
    return out


@contextlib.contextmanager
def gloo_process_group(rank, world_size, folder):
    """Join a CPU (gloo) process group that rendezvouses through a file in ``folder``, with one
    torch thread (the body of a worker started by ``torch.multiprocessing``)."""
    os.environ["OMP_NUM_THREADS"] = "1"
    torch.set_num_threads(1)
    dist.init_process_group("gloo", init_method=f"file://{folder}/rendezvous", rank=rank,
                            world_size=world_size)
    try:
        yield
    finally:
        dist.destroy_process_group()


def loss_history(trainer):
    """The ``total_loss`` of every iteration a trainer ran."""
    return [v for v, _ in trainer.storage.history("total_loss").values()]


class _Killed(Exception):
    pass


class _KillAfter(HookBase):
    def __init__(self, iteration):
        self.iteration = iteration

    def after_step(self):  # registered last: after the checkpointer wrote this iteration
        if self.trainer.iter == self.iteration:
            raise _Killed()


def kill_and_resume(make_trainer, max_iter):
    """Run a config straight through; run it again, killed after iteration ``max_iter // 2 - 1``
    (whose checkpoint it wrote), and resume that run as ``--resume`` does.

    ``make_trainer(name)`` builds a fresh trainer whose OUTPUT_DIR depends on ``name``
    ("straight" or "resumed"). Returns ``(straight trainer, losses of the killed then resumed
    run, resumed trainer)``.
    """
    straight = make_trainer("straight")
    straight.resume_or_load(resume=False)
    straight.train()
    killed = make_trainer("resumed")
    killed.resume_or_load(resume=False)
    killed.register_hooks([_KillAfter(max_iter // 2 - 1)])
    try:
        killed.train()
    except _Killed:
        pass
    else:
        raise AssertionError("the run finished before it was killed")
    resumed = make_trainer("resumed")
    resumed.resume_or_load(resume=True)
    assert resumed.start_iter == max_iter // 2, resumed.start_iter
    resumed.train()
    return straight, loss_history(killed) + loss_history(resumed), resumed
