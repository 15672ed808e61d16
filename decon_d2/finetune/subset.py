"""Limited-data fine-tuning: a deterministic fraction of the training records.

The same (fraction, seed) always selects the same images, whatever the process count or the
order the catalog lists them in: images are ranked by a hash of (seed, file name) and the first
``ceil(fraction * N)`` kept. Smaller fractions are subsets of larger ones with the same seed, so
1% ⊂ 10% ⊂ 100%, as limited-data protocols expect.
"""
import hashlib
import math
from typing import List


def _rank(seed: int, file_name: str) -> str:
    return hashlib.sha256(f"{seed}:{file_name}".encode()).hexdigest()


def subset_records(records: List[dict], fraction: float, seed: int = 0) -> List[dict]:
    """The kept records (in their original order); ``fraction`` in (0, 1]."""
    if not 0.0 < fraction <= 1.0:
        raise ValueError(f"DATASETS.DECON.TRAIN_FRACTION must be in (0, 1], got {fraction}")
    if fraction == 1.0:
        return list(records)
    n = max(1, math.ceil(fraction * len(records)))
    ranked = sorted(range(len(records)), key=lambda i: _rank(seed, records[i]["file_name"]))
    keep = set(ranked[:n])
    return [r for i, r in enumerate(records) if i in keep]
