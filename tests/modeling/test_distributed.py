"""Two CPU processes (gloo) on halves of a batch give the one-process loss on the whole batch.

This checks the gathered contrast keys, the count-weighted normalisation of the contrast term,
the all-reduced center, and the norm resolution (SyncBN -> naive sync BN on CPU, so batch
statistics are those of the global batch). DeCon-SL has no dropout; float64 makes the
comparison tight.
"""
import pytest
import torch
from detectron2.modeling import build_model
from detectron2.utils.events import EventStorage

from tests.helpers import (
    assert_same_collectives, gloo_process_group, instant_test_cfg, record_collectives, spawn,
    synthetic_batch,
)

WORLD = 2
N_GLOBAL = 4


def _run(model, batch):
    with EventStorage() as storage:
        losses = model(batch)
        logs = {k: v[0] for k, v in storage.latest().items()}
    out = {k: v.item() for k, v in losses.items()}
    out.update(logs)
    out.update({f"center/{k}": h.center.clone() for k, h in model.student.heads.items()})
    return out


def _worker(rank, tmp):
    with gloo_process_group(rank, WORLD, tmp):
        model = build_model(instant_test_cfg("decon_sl"))
        model.load_state_dict(torch.load(f"{tmp}/model.pth"))
        model.double().train()
        batch = torch.load(f"{tmp}/batch.pth")
        half = N_GLOBAL // WORLD
        with record_collectives() as calls:
            result = _run(model, batch[rank * half:(rank + 1) * half])
        result["collectives"] = calls
        result["norm_types"] = sorted({type(m).__name__ for m in model.modules()
                                       if isinstance(m, torch.nn.modules.batchnorm._BatchNorm)})
        torch.save(result, f"{tmp}/rank{rank}.pth")


#: health signals describe this process's share of the batch (modeling/heads/slot_health.py):
#: not averages, so their mean over processes is not the 1-process value
HEALTH = ("proto_entropy", "protos_used", "slots_kept", "agreement", "agreement_chance",
          "agreement_excess")


def test_two_processes_match_one_process(tmp_path):
    torch.manual_seed(0)
    model = build_model(instant_test_cfg("decon_sl"))
    model.copy_student_to_teacher()
    torch.save(model.state_dict(), tmp_path / "model.pth")
    batch = synthetic_batch(N_GLOBAL, 64, seed=3)
    batch[1]["flip2"] = True
    batch[2]["box2"] = torch.tensor([0.3, 0.1, 0.95, 1.0])
    torch.save(batch, tmp_path / "batch.pth")

    ref = _run(model.double().train(), batch)
    spawn(_worker, (str(tmp_path),), WORLD)
    ranks = [torch.load(tmp_path / f"rank{r}.pth") for r in range(WORLD)]

    assert ranks[0]["norm_types"] == ["NaiveSyncBatchNorm"]
    assert_same_collectives([r.pop("collectives") for r in ranks])  # same ops, dtypes, shapes
    assert ref["decon/contrast_skipped"] == 0  # the contrast terms really run
    for key, value in ref.items():
        if key.startswith("center/"):
            for r in ranks:  # all-reduced: identical on every process and equal to 1-process
                torch.testing.assert_close(r[key], value, rtol=1e-9, atol=1e-12)
        elif key.startswith(("loss_", "decon/")) and not key.endswith(HEALTH + ("skipped",)):
            mean = sum(r[key] for r in ranks) / WORLD  # what DDP's gradient averaging optimises
            assert mean == pytest.approx(value, rel=1e-9, abs=1e-12), key
