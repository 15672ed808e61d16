"""World-size invariance: the same global batch of 4, split 1x4, 2x2 and 4x1 (processes x images
per process), gives the same weights, teacher and DenseCL queues after real optimiser steps.

fp64 on gloo, with DDP's gradient averaging, the project's optimiser (LARS) and the EMA teacher
update, as ``PretrainTrainer`` steps. The 2-process run is 2 "machines" x 1 process and the
4-process run 2 x 2 (Detectron2's local process groups as launch() makes them). BN runs as SyncBN
(global batch statistics); with per-process BN the statistics, hence the results, depend on the
split (docs/cluster.md). Dropout is off: its masks are drawn per rank.
"""
import pytest
import torch
from detectron2.engine import create_ddp_model
from detectron2.modeling import build_model
from detectron2.utils import comm
from detectron2.utils.events import EventStorage

from decon_d2.engine.optimizer import build_optimizer
from tests.helpers import (
    assert_same_collectives, gloo_process_group, instant_test_cfg, record_collectives, spawn,
    synthetic_batch,
)

N_GLOBAL, STEPS = 4, 2
SYNC = ("MODEL.RESNETS.NORM", "SyncBN", "MODEL.FPN.NORM", "SyncBN",
        "MODEL.DECON.SKIP_CHANNEL_DROPOUT", 0.0)
#: the variants, with the queue a multiple of the global batch (DenseCL's requirement)
VARIANTS = {"decon_ml": (), "decon_densecl_ml": ("MODEL.DECON.DENSECL.QUEUE_LENGTH", 12)}


def _cfg(variant):
    return instant_test_cfg(variant, *SYNC, *VARIANTS[variant])


def _train(variant, tmp, rank=0, world=1):
    """STEPS optimiser steps on this process's share of each batch; the final state dict."""
    cfg = _cfg(variant)
    model = build_model(cfg)
    model.load_state_dict(torch.load(f"{tmp}/{variant}.pth"))
    model.double().train()
    net = create_ddp_model(model, broadcast_buffers=False, device_ids=None) if world > 1 else model
    optimizer = build_optimizer(cfg, model)
    per = N_GLOBAL // world
    for step, batch in enumerate(torch.load(f"{tmp}/batches.pth")):
        torch.manual_seed(step)  # the same draws on every rank (shuffle-BN uses rank 0's)
        with EventStorage(step):
            loss = sum(net(batch[rank * per:(rank + 1) * per]).values())
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        model.momentum_update(0.9)
    return {k: v.clone() for k, v in model.state_dict().items()}


def _worker(rank, world, per_machine, tmp):
    with gloo_process_group(rank, world, f"{tmp}/group{world}"):
        comm.create_local_process_group(per_machine)
        with record_collectives() as calls:
            out = {v: _train(v, tmp, rank, world) for v in VARIANTS}
        out["collectives"] = calls
        torch.save(out, f"{tmp}/world{world}_rank{rank}.pth")


@pytest.mark.slow
def test_one_two_and_four_processes_train_the_same(tmp_path, one_torch_thread):
    initial = {}
    for variant in VARIANTS:
        torch.manual_seed(0)
        model = build_model(_cfg(variant))
        model.copy_student_to_teacher()
        initial[variant] = model.state_dict()
        torch.save(initial[variant], tmp_path / f"{variant}.pth")
    torch.save([synthetic_batch(N_GLOBAL, 64, seed=s) for s in range(STEPS)],
               tmp_path / "batches.pth")
    reference = {v: _train(v, tmp_path) for v in VARIANTS}

    runs = {}
    for world, per_machine in ((2, 1), (4, 2)):
        (tmp_path / f"group{world}").mkdir()
        spawn(_worker, (world, per_machine, str(tmp_path)), world)
        runs[world] = [torch.load(tmp_path / f"world{world}_rank{r}.pth") for r in range(world)]
        assert_same_collectives([r.pop("collectives") for r in runs[world]])
    for variant, ref in reference.items():
        for k, v in ref.items():
            for world, ranks in runs.items():
                for got in ranks:
                    # plain BN (1 process) keeps the unbiased batch variance and counts
                    # batches, naive sync BN keeps the biased one and does not count: those
                    # must agree between 2 and 4 processes
                    bn_own = k.endswith(("running_var", "num_batches_tracked"))
                    want = runs[2][0][variant][k] if bn_own else v
                    torch.testing.assert_close(got[variant][k].to(v.dtype), want.to(v.dtype),
                                               rtol=1e-9, atol=1e-9, msg=f"{world}: {variant} {k}")

    # the steps did something: weights moved, the teacher followed, the queue took new keys
    for variant, ref in reference.items():
        moved = [k for k, v in ref.items() if v.is_floating_point()
                 and not torch.equal(v, initial[variant][k].to(v.dtype))]
        assert any(k.startswith("student.") for k in moved), variant
        assert any(k.startswith("teacher.") for k in moved), variant
    densecl = reference["decon_densecl_ml"]
    pointers = [k for k in densecl if k.endswith("queue_ptr")]
    assert pointers and all(densecl[k].item() == STEPS * N_GLOBAL for k in pointers)
    assert all(k in moved for k in densecl if "queue" in k and not k.endswith("queue_ptr"))
