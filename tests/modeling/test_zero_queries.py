"""A process with zero slot queries under fp16 autocast: the hazard torch's SyncBatchNorm has on
CUDA (docs/gpu.md, "Zero slot queries"), checked on CPU.

The slot predictor sees only the queries present in both views (``q[sel]``), which may be none
on one process. torch's SyncBatchNorm then sends its statistics in the input's dtype from that
process (fp16 zeros under autocast) and fp32 from the others: collectives of different sizes.
The predictor's norm therefore runs in fp32 whatever the autocast dtype. Checked here: the
norm's input is fp32 on both processes (one of them with zero rows) under fp16 autocast, both
processes call the same collectives with the same dtypes and shapes, forward and backward
complete, and the mean loss over processes equals one process on the whole batch.
"""
import pytest
import torch
from detectron2.modeling import build_model
from detectron2.utils.events import EventStorage

from decon_d2.modeling.heads.slotcon import head as slotcon_head
from decon_d2.modeling.mlp import SlotPredictor
from decon_d2.modeling.norm import BatchNorm1dAs2d
from tests.helpers import gloo_process_group, instant_test_cfg, spawn, synthetic_batch
from tests.helpers.collectives import assert_same_collectives, record_collectives

WORLD, N_GLOBAL = 2, 4


def _no_queries_from(first_image):
    """``slot_contrast`` with no student slot present from image ``first_image`` on (the images
    of the process that gets no query)."""
    original = slotcon_head.slot_contrast

    def patched(q_slots, k_slots, q_present, *args):
        q_present = q_present.clone()
        q_present[first_image:] = False
        return original(q_slots, k_slots, q_present, *args)
    return patched


def _step(model, batch):
    """fp16-autocast forward + backward; (loss values, predictor-norm inputs (rows, dtype))."""
    seen = []
    for m in model.modules():
        if isinstance(m, BatchNorm1dAs2d):
            m.norm.register_forward_pre_hook(
                lambda mod, args: seen.append((args[0].shape[0], args[0].dtype)))
    with EventStorage(), torch.autocast("cpu", dtype=torch.float16):
        losses = model(batch)
    sum(losses.values()).backward()
    grads = [p.grad for p in model.parameters() if p.requires_grad]
    assert all(g is not None and torch.isfinite(g).all() for g in grads)
    return {k: v.item() for k, v in losses.items()}, seen


def _worker(rank, tmp):
    with gloo_process_group(rank, WORLD, tmp):
        if rank == 1:
            slotcon_head.slot_contrast = _no_queries_from(0)
        model = build_model(instant_test_cfg("decon_sl"))
        model.load_state_dict(torch.load(f"{tmp}/model.pth"))
        half = N_GLOBAL // WORLD
        batch = torch.load(f"{tmp}/batch.pth")[rank * half:(rank + 1) * half]
        with record_collectives() as calls:
            losses, seen = _step(model.train(), batch)
        torch.save({"losses": losses, "seen": seen, "calls": calls}, f"{tmp}/rank{rank}.pth")


def test_predictor_norm_runs_in_fp32_under_any_autocast():
    predictor = SlotPredictor(8, 16, 8, "BN")
    seen = []
    for m in predictor.modules():
        if isinstance(m, BatchNorm1dAs2d):
            m.norm.register_forward_pre_hook(lambda mod, args: seen.append(args[0].dtype))
    for dtype in (torch.float16, torch.bfloat16):
        with torch.autocast("cpu", dtype=dtype):
            out = predictor(torch.randn(5, 8))
        assert out.dtype == dtype  # the Linear layers still run in the autocast dtype
    assert seen == [torch.float32] * 4


@pytest.mark.slow
def test_a_process_without_queries_under_fp16_matches_one_process(tmp_path, monkeypatch):
    torch.manual_seed(0)
    model = build_model(instant_test_cfg("decon_sl"))
    model.copy_student_to_teacher()
    torch.save(model.state_dict(), tmp_path / "model.pth")
    batch = synthetic_batch(N_GLOBAL, 64, seed=3)
    torch.save(batch, tmp_path / "batch.pth")
    monkeypatch.setattr(slotcon_head, "slot_contrast", _no_queries_from(N_GLOBAL // WORLD))
    ref, ref_seen = _step(model.train(), batch)
    spawn(_worker, (str(tmp_path),), WORLD, timeout=120)
    ranks = [torch.load(tmp_path / f"rank{r}.pth") for r in range(WORLD)]

    assert all(rows > 0 for rows, _ in ref_seen)
    assert [rows for rows, _ in ranks[1]["seen"]] == [0] * len(ranks[1]["seen"])  # no query
    assert all(rows > 0 for rows, _ in ranks[0]["seen"])
    assert {dtype for r in ranks for _, dtype in r["seen"]} == {torch.float32}
    assert_same_collectives([r["calls"] for r in ranks])
    assert any(op == "all_reduce" for op, _ in ranks[0]["calls"])
    for key, value in ref.items():
        mean = sum(r["losses"][key] for r in ranks) / WORLD
        assert mean == pytest.approx(value, rel=2e-3, abs=2e-3), key
