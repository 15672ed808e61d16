"""The study's statistics (tools/study/paired.py) against hand-computed values."""
import math

import pytest

from tools.study.paired import margin, paired, paired_cells


def test_paired_difference_mean_std_and_t_interval():
    p = paired([3.0, 5.0, 4.0], [1.0, 2.0, 3.0])  # differences 2, 3, 1
    assert p["diffs"] == [2.0, 3.0, 1.0] and p["mean"] == 2.0 and p["std"] == 1.0
    assert p["half_width"] == pytest.approx(4.303 / math.sqrt(3))  # t(0.975, 2) * sd / sqrt(n)
    assert not p["separates"]  # 2.0 < 2.484: within the spread
    tight = paired([3.0, 3.1, 2.9], [1.0, 1.0, 1.0])  # mean 2, sd 0.1: interval +-0.25
    assert tight["separates"]
    per, mean, verdict = paired_cells([3.0, 3.1, 2.9], [1.0, 1.0, 1.0])
    assert per == "+2.00 / +2.10 / +1.90" and mean == "+2.00 [+1.75, +2.25]"
    assert verdict == "exceeds the spread"
    with pytest.raises(ValueError, match="one value per seed"):
        paired([1.0, 2.0], [1.0])


def test_margin_is_against_twice_the_larger_std():
    r = margin([10.0, 12.0, 14.0], [5.0, 5.5, 6.0])  # means 12 and 5.5, stds 2 and 0.5
    assert r["margin"] == 6.5 and r["two_std"] == 4.0 and r["beats"]
    assert not margin([10.0, 12.0, 14.0], [8.0, 8.0, 8.0])["beats"]  # +4.0 is not > 4.0
