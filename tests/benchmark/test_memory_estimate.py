"""The per-GPU memory estimate (``tools.benchmark.gpu_memory``): its arithmetic on a synthetic
measurement (no model), then one tiny real measurement of a SlotCon case."""
import pytest

from tools.benchmark import gpu_memory as gm
from tools.benchmark.memory import MIB


def _peak(batch, queue_length=0, calls=(), shuffle=False):
    """What ``peak_memory`` returns, with round numbers: activations 100 + 50 MiB per image."""
    return {"after_forward": {"act": 80.0 + 50.0 * batch, "temp": 20.0},
            "fwd_bwd": {"param": 300.0, "buffer": 10.0, "opt": 300.0, "total": 900.0},
            "opt": {"total": 700.0}, "grads_mib": 300.0, "finest_stride": 32,
            "queue_length": queue_length, "chunk_rows": 0, "slot_contrast": list(calls),
            "levels": {"res5": [2048, 32]}, "teacher_shuffle": {"on": shuffle, "views": 1}}


def _call(batch, queries, keys):
    return {"b": batch, "k": 256, "d": 256, "queries": queries, "keys": keys, "head": "res5",
            "stride": 32}


def test_slotcon_estimate_adds_the_slot_logits_computed_at_the_target():
    # one head, two directions; at crop 96 the res5 map is 3 x 3: at most 9 slots per image
    peaks = {b: _peak(b, calls=[_call(b, 9 * b, 9 * b)] * 2) for b in (1, 2)}
    copies = (1.0, 4.0)  # one matrix kept after the forward, four at the backward's peak
    est = gm.gpu_estimate(peaks, 96, 224, 64, 8, "fp16", 3.0, copies)
    # no queue: the DenseCL loss backward is 0; the slot logits are taken off the linear fit
    offsets = [2 * (9 * b) ** 2 * 4 / MIB for b in (1, 2)]
    act = [100.0 + 50.0 * b - offsets[b - 1] for b in (1, 2)]  # act + temp, less the logits
    slope, act0 = act[1] - act[0], act[0]
    assert est["activations"] == pytest.approx(act0 - slope + slope * 64 * (224 / 96) ** 2)
    # at 224 the res5 map is 7 x 7: 49 slots per image; queries 64 x 49, keys 8 ranks' worth
    matrix = (64 * 49) * (8 * 64 * 49) * 4 / MIB
    assert est["loss"] == pytest.approx(2 * 1.0 * matrix + (4.0 - 1.0) * matrix)
    assert est["tensors"] == pytest.approx(300 + 10 + 300 + 300 + est["activations"] + est["loss"])
    # (iii) one more copy of the gradients; (iv) the other ranks' keys, plus one gather's list
    # and concatenation of every slot
    assert est["ddp_buckets"] == 300.0
    assert est["gathers"] == pytest.approx(
        2 * 7 * 64 * 49 * 256 * 4 / MIB + 2 * 8 * 64 * 256 * 256 * 4 / MIB)
    allocated = est["tensors"] + est["gathers"] + est["ddp_buckets"]
    assert est["allocator"] == pytest.approx(gm.ALLOCATOR_FRACTION * allocated)
    assert est["total"] == pytest.approx(allocated * (1 + gm.ALLOCATOR_FRACTION)
                                         + gm.CUDA_CONTEXT_GIB * 1024)
    # slots counted at the target replace the bound where fewer (never more than it)
    fewer = gm.gpu_estimate(peaks, 96, 224, 64, 8, "fp16", 3.0, copies, presence=[20.0, 99.0])
    small, large = ((64 * n) * (8 * 64 * n) * 4 / MIB for n in (20, 49))
    assert fewer["loss"] == pytest.approx(small + large + 3.0 * large)
    # one process: no DDP, no gathers from other ranks
    one = gm.gpu_estimate(peaks, 96, 224, 64, 1, "fp16", 3.0, copies)
    assert one["ddp_buckets"] == 0.0 and one["gathers"] == pytest.approx(
        2 * 64 * 256 * 256 * 4 / MIB)


def test_densecl_estimate_counts_the_shuffle_bn_gathers():
    peaks = {b: _peak(b, queue_length=1024, shuffle=True) for b in (1, 2)}
    est = gm.gpu_estimate(peaks, 96, 224, 32, 8, "fp32", 3.0, (1.0, 4.0))
    # (3 - 1 kept) x 32 x 7 x 7 rows x 1024 keys x fp32
    assert est["loss"] == pytest.approx(2.0 * 32 * 49 * 1024 * 4 / MIB)
    # the fp32 views of 8 ranks (list + concatenation) outweigh the res5 maps here
    views = 2 * 8 * 32 * 3 * 224 * 224 * 4 / MIB
    assert est["gathers"] == pytest.approx(max(views, 2 * 8 * 32 * 2048 * 49 * 4 / MIB))


def test_verdicts_and_more_gpus_at_the_same_global_batch():
    assert gm.verdicts(30 * 1024) == {"40 GB": True, "80 GB": True}
    assert gm.verdicts(60 * 1024) == {"40 GB": False, "80 GB": True}
    assert gm.verdicts(90 * 1024) == {"40 GB": False, "80 GB": False}

    def at(batch, world):  # 1 GiB per image on a GPU
        return {"total": batch * 1024.0}

    assert gm.more_gpus(at, 512, 8, gm.CARDS["80 GB"]) == (8, 64, 64 * 1024.0)  # the recipe
    assert gm.more_gpus(at, 512, 8, gm.CARDS["40 GB"]) == (16, 32, 32 * 1024.0)
    assert gm.more_gpus(at, 512, 8, 4 * 1024) is None  # 8 GiB at 64 GPUs, the most tried
    assert gm.more_gpus(at, 512, 8, 20 * 1024) == (32, 16, 16 * 1024.0)


def test_recipes_read_from_the_configs():
    assert gm.recipe("decon_ml+mem") == ("fp16", 64, 512, True)
    assert gm.recipe("decon_densecl_ml+chunk4096+ckpt") == ("fp32", 32, 256, False)


def test_a_tiny_slotcon_measurement_records_its_slot_contrast():
    from tools.benchmark.cases import parse_case
    from tools.benchmark.memory import peak_memory

    kept, peak = gm.slot_contrast_copies(b=4, k=64)
    assert 0.9 < kept < 1.5 and kept + 1 < peak < 7
    p = peak_memory(parse_case("slotcon"), 64, 2, instant_test=True)
    assert p["queue_length"] == 0 and not p["teacher_shuffle"]["on"]
    (name,) = p["levels"]
    calls = p["slot_contrast"]
    assert [c["head"] for c in calls] == [name, name]  # two directions
    assert all(0 < c["queries"] <= c["keys"] <= 2 * c["k"] for c in calls)
