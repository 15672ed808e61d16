"""The study's comparison tables: frozen-probe margins over the two baselines, the fine-tuning
table (a)-(e) per label fraction, and the paired differences with their intervals (paired.py)."""
import math
from typing import Dict, List, Sequence, Tuple

from tools.study.paired import margin, paired_cells
from tools.study.summary import mean_std
from tools.study.transfer import ROWS

__all__ = ["PAIRS", "probe_margin_table", "finetune_table", "paired_table", "sections"]

#: (x, y, what x - y measures)
PAIRS = (
    ("c", "a", "SlotCon pre-training vs Detectron2 random init"),
    ("c", "b", "SlotCon pre-training vs the starting network"),
    ("e", "b", "DeCon-ML pre-training (enc + FPN) vs the starting network"),
    ("d", "c", "DeCon-ML encoder vs SlotCon encoder (both with a random FPN)"),
    ("e", "c", "DeCon-ML enc + FPN vs SlotCon enc + random FPN (DeCon vs SlotCon as used)"),
    ("e", "d", "DeCon-ML's pre-trained FPN vs a random FPN on the same encoder"),
)


def _values(rows: List[Dict], groups: List[Tuple[str, int]], group: str, level: str) -> List:
    out = []
    for r, (g, _) in zip(rows, groups):
        if g == group:
            v = r["levels"].get(level, {}).get("mIoU")
            out.append(math.nan if v is None else v)
    return out


def probe_margin_table(rows, groups, levels) -> str:
    """Each pre-trained method's mean mIoU minus each baseline's, against 2 × the larger std."""
    methods = [g for g in dict.fromkeys(g for g, _ in groups)
               if g != "random init" and not g.endswith(" at iteration 0")]
    lines = ["| weights | level | vs random init: margin (2 × std) | vs its starting network: "
             "margin (2 × std) |", "|---|---|---|---|"]
    for m in methods:
        for lv in levels:
            x = _values(rows, groups, m, lv)
            if not x or all(math.isnan(v) for v in x):
                continue
            cells = []
            for base in ("random init", f"{m} at iteration 0"):
                r = margin(x, _values(rows, groups, base, lv))
                word = "beats" if r["beats"] else "does not beat"
                cells.append(f"{r['margin']:+.2f} ({r['two_std']:.2f}): {word}")
            lines.append(f"| {m} | {lv} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def finetune_table(results: Dict[str, Dict[float, List]], fractions: Sequence[float],
                   seeds: Sequence[int]) -> str:
    head = "| weights | " + " | ".join(f"{f:.0%} labels: mIoU | per seed {list(seeds)}"
                                       for f in fractions) + " |"
    lines = [head, "|" + "---|" * (1 + 2 * len(fractions))]
    for row in ROWS:
        cells = []
        for f in fractions:
            vals = results[row.key][f]
            m, sd = mean_std(vals)
            cells += [f"{m:.2f} ± {sd:.2f}", " / ".join(f"{v:.2f}" for v in vals)]
        lines.append(f"| {row.label} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def paired_table(results, fractions) -> str:
    lines = ["| difference | labels | per seed | mean [95 % interval] | |", "|---|---|---|---|---|"]
    for x, y, what in PAIRS:
        for f in fractions:
            per, mean, verdict = paired_cells(results[x][f], results[y][f])
            lines.append(f"| ({x}) − ({y}): {what} | {f:.0%} | {per} | {mean} | {verdict} |")
    return "\n".join(lines)


def sections(results, fractions, seeds, val: str) -> List[str]:
    """The fine-tuning part of ``results.md``."""
    return [
        f"## Fine-tuning transfer: Semantic FPN, {val} (val mIoU, percent, mean ± std "
        f"over seeds {list(seeds)})", finetune_table(results, fractions, seeds),
        "## Paired differences (same seed, same label subset; mean and 95 % t interval)",
        paired_table(results, fractions),
    ]
