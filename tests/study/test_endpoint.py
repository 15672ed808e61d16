"""The preregistered endpoint: res5 teacher minus its own iteration 0, seed by seed, passes only
when the whole 95 % t interval lies above 0 (a significant loss does not pass)."""
import math

from tools.study import endpoint


def _rows(teacher, init, level="res5"):
    rows = {}
    for s, (t, i) in enumerate(zip(teacher, init)):
        rows[("slotcon teacher", s)] = {"levels": {level: {"mIoU": t}}}
        rows[("slotcon iteration 0", s)] = {"levels": {level: {"mIoU": i}}}
    return rows


def test_endpoint_interval_must_lie_above_zero():
    init = [10.0, 11.0, 9.0, 10.5, 10.0]
    gain = [1.0, 2.0, 1.0, 2.0, 1.5]  # mean 1.5, sd 0.5: half-width 2.776 * 0.5 / sqrt(5)
    v = endpoint.verdict(_rows([i + g for i, g in zip(init, gain)], init), "slotcon",
                         list(range(5)))
    half = 2.776 * 0.5 / math.sqrt(5)
    assert v["passed"] and math.isclose(v["mean"], 1.5)
    assert math.isclose(v["low"], 1.5 - half, rel_tol=1e-9)
    assert "PASSES" in v["line"]
    # the same size of change downwards is significant, and does not pass
    loss = endpoint.verdict(_rows([i - g for i, g in zip(init, gain)], init), "slotcon",
                            list(range(5)))
    assert not loss["passed"] and loss["high"] < 0
    # a positive mean whose interval reaches 0 does not pass
    noisy = [3.0, -2.0, 2.5, -1.5, 0.5]
    v = endpoint.verdict(_rows([i + g for i, g in zip(init, noisy)], init), "slotcon",
                         list(range(5)))
    assert v["mean"] > 0 and v["low"] < 0 and not v["passed"]


def test_endpoint_reads_res5_only():
    init = [10.0] * 5
    rows = _rows([12.0, 12.5, 11.5, 12.2, 11.8], init, level="res4")
    for (label, s), r in rows.items():
        r["levels"]["res5"] = {"mIoU": 10.0}
    assert not endpoint.verdict(rows, "slotcon", list(range(5)))["passed"]
