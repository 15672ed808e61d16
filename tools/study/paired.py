"""Paired comparisons over seeds: the study's differences with a simple interval.

Two rows of one seed share everything but the weights (same fine-tuning seed, label subset,
data order), so the difference per seed removes the seed's own luck; its mean over seeds gets a
95 % Student-t interval (n - 1 degrees of freedom). With 5 seeds the t factor is 2.78 (4.30 at
3), so only differences large against their own spread count: that is the point, not a flaw.
"""
import math
from typing import Dict, Optional, Sequence, Tuple

from tools.study.summary import mean_std

__all__ = ["T_975", "paired", "paired_cells"]

#: two-sided 95 % Student-t quantiles by degrees of freedom
T_975 = {1: 12.706, 2: 4.303, 3: 3.182, 4: 2.776, 5: 2.571, 6: 2.447, 7: 2.365, 8: 2.306,
         9: 2.262, 10: 2.228}


def paired(x: Sequence[float], y: Sequence[float]) -> Dict[str, Optional[float]]:
    """``x - y`` seed by seed: per-seed differences, their mean, std and the 95 % half-width
    (None below 2 seeds); ``separates``: the interval excludes 0."""
    if len(x) != len(y):
        raise ValueError(f"paired needs one value per seed on both sides, got {len(x)} and "
                         f"{len(y)}")
    d = [a - b for a, b in zip(x, y)]
    m, sd = mean_std(d)
    n = len(d)
    half = T_975.get(n - 1, 1.96) * sd / math.sqrt(n) if n > 1 else None
    return {"diffs": d, "mean": m, "std": sd, "half_width": half,
            "separates": half is not None and abs(m) > half}


def paired_cells(x, y) -> Tuple[str, str, str]:
    """(per-seed differences, mean [95 % interval], verdict) as table cells."""
    p = paired(x, y)
    per = " / ".join(f"{v:+.2f}" for v in p["diffs"])
    if p["half_width"] is None:
        return per, f"{p['mean']:+.2f}", "one seed: no interval"
    lo, hi = p["mean"] - p["half_width"], p["mean"] + p["half_width"]
    verdict = "exceeds the spread" if p["separates"] else "within the spread"
    return per, f"{p['mean']:+.2f} [{lo:+.2f}, {hi:+.2f}]", verdict
