"""Smoke test of ``python -m tools.benchmark``: one step per case on CPU, tiny sizes.

No timing is asserted (no timed tests); only that every measurement is produced and consistent.
Tiny = the instant-test configs (``--instant-test``: ResNet-18, small heads), 64-px crops,
batch 2, in-process (no subprocess per case).
"""
import json

import pytest

from tools.benchmark import parse_case
from tools.benchmark.__main__ import main


def test_benchmark_one_step_on_cpu(tmp_path, capsys):
    out = tmp_path / "bench.json"
    rc = main(["--variants", "encoder_only", "decon_sl+ckpt", "decon_sl+ckpt+bf16", "--crop", "64",
               "--batch", "2", "--steps", "1", "--warmup", "0", "--device", "cpu", "--in-process",
               "--json", str(out), "--instant-test", "--memory-crop", "64", "--memory-steps", "1",
               "--roofline-hidden", "64", "--roofline-repeats", "1"])
    assert rc == 0
    printed = capsys.readouterr().out
    assert "time vs enc" in printed and "FLOPs of decon_sl+ckpt" in printed
    assert "reserved MiB" in printed  # CUDA's reserve beside its allocated peak ("-" on CPU)
    assert "of fp32 GEMM" in printed and "Memory at crop 64: ratios to decon_ml" in printed
    data = json.loads(out.read_text())
    assert data["meta"]["data_loading"].startswith("excluded")
    enc, sl, sl16 = data["results"]
    assert [enc["case"], sl["case"]] == ["slotcon", "decon_sl+ckpt"]  # the alias names its row
    assert (sl["precision"], sl16["precision"]) == ("fp32", "bf16")
    assert set(data["roofline"]["best"]) == {"fp32", "bf16"}
    assert all(v > 0 for v in data["roofline"]["best"].values())
    # The bf16 row is compared with its fp32 twin of the same run.
    row = next(line for line in printed.splitlines() if line.startswith("decon_sl+ckpt+bf16"))
    assert row.split()[-1].endswith("x")
    mem = data["memory"]
    assert [m["case"] for m in mem] == ["decon_ml", "decon_ml+recompute+bbckpt"]
    assert all(m["crop"] == 64 and m["timing"]["peak_memory_mib"] > 0 for m in mem)
    for r in (enc, sl, sl16):
        t = r["timing"]
        assert len(t["step_times_s"]) == 1 and t["images_per_s"] > 0
        assert t["memory_kind"] == "peak_rss" and t["peak_memory_mib"] > 0
        assert t["peak_reserved_mib"] is None  # no allocator reserve on CPU
        fl = r["flops"]
        assert fl["backward"] > 0 and fl["step"] == pytest.approx(
            fl["forward_student"] + fl["forward_teacher"] + fl["backward"])
        # backward ~ 2x the student forward: the counted step is close to the 3x estimate
        assert fl["step"] == pytest.approx(fl["step_3x_estimate"], rel=0.1)
        assert "mfu" not in r  # CPU: no utilisation figure
    assert {"encoder", "projector res5", "grouping + losses"} <= set(enc["flops"]["components"])
    assert {"fpn", "projector p2", "predictor p2"} <= set(sl["flops"]["components"])
    assert sl["flops"]["step"] > enc["flops"]["step"]


def test_case_specs_round_trip():
    case = parse_case("decon_ml+hid1024+levels=p3,p4+ckpt+cl")
    assert (case.dec_proj_hidden, case.decoder_levels, case.checkpoint_projectors,
            case.channels_last, case.compile) == (1024, ["p3", "p4"], True, True, False)
    assert parse_case(case.label) == case
    fast = parse_case("decon_ml+mem+bf16")
    assert (fast.recompute, fast.backbone_recompute, fast.precision) == (True, True, "bf16")
    assert parse_case(fast.label) == fast and fast.label == "decon_ml+recompute+bbckpt+bf16"
    assert parse_case("decon_sl+conv").overrides() == ["MODEL.DECON.SLOTCON.PROJ_IMPL", "conv"]
    assert case.overrides() == [
        "MODEL.DECON.SLOTCON.DEC_PROJ_HIDDEN_DIM", 1024, "MODEL.DECON.DECODER_LEVELS", ["p3", "p4"],
        "MODEL.DECON.SLOTCON.DEC_PROJ_CHECKPOINT", True]
    with pytest.raises(ValueError):
        parse_case("decon_xl")
    with pytest.raises(ValueError):
        parse_case("decon_ml+fast")
    # DenseCL cases run the options their label names, and refuse the SlotCon-only ones
    assert "MODEL.DECON.BACKBONE_RECOMPUTE" in parse_case("densecl+bbckpt").overrides()
    assert parse_case("densecl+bbckpt").overrides()[-1] is True
    for spec in ("densecl+mem", "decon_densecl_ml+conv", "decon_densecl_sl+hid1024"):
        with pytest.raises(ValueError, match="SlotCon"):
            parse_case(spec)


def test_densecl_cases_and_memory_tool():
    from tools.benchmark.memory import extrapolate, info_nce_copies, peak_memory

    case = parse_case("decon_densecl_ml+chunk512+ckpt")
    assert parse_case(case.label) == case
    assert case.overrides() == ["MODEL.DECON.DENSECL.DEC_PROJ_CHECKPOINT", True,
                                "MODEL.DECON.DENSECL.LOSS_CHUNK_ROWS", 512,
                                "MODEL.DECON.BACKBONE_RECOMPUTE", False]
    # a DenseCL case states its memory options even when off (the ML config turns them on)
    assert parse_case("decon_densecl_ml").overrides()[1::2] == [False, 0, False]
    for bad in ("densecl+hid1024", "decon_ml+chunk64"):
        with pytest.raises(ValueError):
            parse_case(bad)
    peaks = {b: peak_memory(parse_case("densecl"), 64, b, instant_test=True) for b in (1, 2)}
    for p in peaks.values():
        fb = p["fwd_bwd"]
        assert fb["param"] > 0 and fb["opt"] > 0 and fb["buffer"] > 0
        assert fb["total"] >= fb["param"] + fb["opt"] and p["opt"]["total"] > 0
        assert p["after_forward"]["act"] > 0 and p["finest_stride"] == 32  # res5 only
    # the unchunked InfoNCE backward holds a few rows x queue matrices; a chunk's, of its rows
    assert 3.5 < info_nce_copies(0, rows=1024, queue_length=1024) < 5.5
    assert 3.5 < info_nce_copies(512, rows=2048, queue_length=1024) < 6.0
    parts = extrapolate(peaks, 64, 224, 32, copies=3.0)
    acts = [peaks[b]["after_forward"]["act"] + peaks[b]["after_forward"]["temp"] for b in (1, 2)]
    slope = acts[1] - acts[0]
    # activations: constant + 32 images x (224/64)^2 x slope; loss: (3 - 1 kept) x 32*7*7 rows
    # x K fp32
    assert parts["activations"] == pytest.approx(acts[0] - slope + slope * 32 * 12.25)
    assert parts["loss_backward"] == pytest.approx(2.0 * 32 * 49 * 6 * 4 / 2 ** 20)
    assert parts["estimate"] >= parts["static"] + parts["grads"]
