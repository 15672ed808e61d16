"""The study's preregistered endpoint (docs/learning.md) and the comparisons reported beside it.

Endpoint: the frozen dense probe's res5 mIoU of a method's exported teacher minus that of the
same run's iteration-0 network, seed by seed; the 95 % Student-t interval of the mean
(``paired.py``; t = 2.78 at 5 seeds) must lie above 0. It was fixed before the seeds ran and it
alone decides whether the DeCon-ML arm and the fine-tuning run (``pipeline.py``). The other
rows (res4, the student, BatchNorm statistics re-estimated, random init) are reported alike and
decide nothing.
"""
import math
from typing import Dict, List, Tuple

from tools.study.paired import paired, paired_cells
from tools.study.probes import KINDS
from tools.study.probes import row_label as _label
from tools.study.summary import mean_std

__all__ = ["LEVEL", "COMPARISONS", "verdict", "rows_table", "comparison_table"]

LEVEL = "res5"

#: (x kind, y kind, what x - y measures)
COMPARISONS = (
    ("teacher", "init", "the exported teacher vs its own iteration 0 (res5: the endpoint)"),
    ("student", "init", "the student vs iteration 0"),
    ("teacher_bn", "init_bn", "teacher vs iteration 0, both with BN statistics re-estimated "
                              "at the probe's resolution"),
    ("teacher", "random", "the teacher vs Detectron2 random init"),
    ("teacher_bn", "random_bn", "the teacher vs Detectron2 random init, BN re-estimated"),
)


def values(rows: Dict[Tuple[str, int], Dict], label: str, seeds: List[int],
           level: str) -> List[float]:
    """mIoU per seed of the rows labelled ``label`` (NaN where the level is unavailable)."""
    out = []
    for s in seeds:
        v = rows[(label, s)]["levels"].get(level, {}).get("mIoU")
        out.append(math.nan if v is None else v)
    return out


def verdict(rows, method: str, seeds: List[int]) -> Dict:
    """The endpoint of ``method``: ``passed`` (interval above 0), the paired numbers, a line."""
    x = values(rows, _label(method, "teacher"), seeds, LEVEL)
    y = values(rows, _label(method, "init"), seeds, LEVEL)
    p = paired(x, y)
    lo = p["mean"] - p["half_width"] if p["half_width"] is not None else math.nan
    hi = p["mean"] + p["half_width"] if p["half_width"] is not None else math.nan
    passed = p["half_width"] is not None and lo > 0
    word = "PASSES" if passed else "does NOT pass"
    line = (f"{method}: res5 teacher − its iteration 0 = {p['mean']:+.2f} mIoU, 95 % interval "
            f"[{lo:+.2f}, {hi:+.2f}] over seeds {list(seeds)}: {word} the preregistered endpoint")
    return {"passed": passed, "mean": p["mean"], "low": lo, "high": hi, "diffs": p["diffs"],
            "line": line}


def rows_table(rows, methods: List[str], seeds: List[int], levels: List[str]) -> str:
    """Markdown: every probed row, mean ± std over seeds per level."""
    kinds = ["random", "random_bn"] + [k for k in KINDS if not k.startswith("random")]
    labels = [_label("", k) for k in kinds[:2]] + [_label(m, k) for m in methods
                                                    for k in kinds[2:]]
    lines = ["| weights | " + " | ".join(f"{lv} mIoU" for lv in levels) + " |",
             "|" + "---|" * (1 + len(levels))]
    for label in labels:
        if (label, seeds[0]) not in rows:
            continue
        cells = []
        for lv in levels:
            m, sd = mean_std(values(rows, label, seeds, lv))
            cells.append("n/a" if math.isnan(m) else f"{m:.2f} ± {sd:.2f}")
        lines.append(f"| {label} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def comparison_table(rows, method: str, seeds: List[int], levels: List[str]) -> str:
    """Markdown: the paired differences of ``method``'s rows, every level alike."""
    lines = ["| difference | level | per seed | mean [95 % interval] | |", "|---|---|---|---|---|"]
    for xk, yk, what in COMPARISONS:
        for lv in levels:
            x = values(rows, _label(method, xk), seeds, lv)
            y = values(rows, _label(method, yk), seeds, lv)
            if any(math.isnan(v) for v in x + y):
                continue
            per, mean, word = paired_cells(x, y)
            lines.append(f"| {_label(method, xk)} − {_label(method, yk)}: {what} | {lv} | {per} "
                         f"| {mean} | {word} |")
    return "\n".join(lines)
