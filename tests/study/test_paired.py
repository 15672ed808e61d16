"""The study's statistics (tools/study/paired.py) against hand-computed values."""
import math

import pytest

from tools.study.paired import paired, paired_cells


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
