"""The study's fine-tuning tables: rows (a)-(e) per label fraction, and the paired differences
with their intervals (paired.py). The frozen probe's tables are endpoint.py's."""
from typing import Dict, List, Sequence

from tools.study.paired import paired_cells
from tools.study.summary import mean_std
from tools.study.transfer import ROWS

__all__ = ["PAIRS", "finetune_table", "paired_table", "sections"]

#: (x, y, what x - y measures)
PAIRS = (
    ("c", "a", "SlotCon pre-training vs Detectron2 random init"),
    ("c", "b", "SlotCon pre-training vs the starting network"),
    ("e", "b", "DeCon-ML pre-training (enc + FPN) vs the starting network"),
    ("d", "c", "DeCon-ML encoder vs SlotCon encoder (both with a random FPN)"),
    ("e", "c", "DeCon-ML enc + FPN vs SlotCon enc + random FPN (DeCon vs SlotCon as used)"),
    ("e", "d", "DeCon-ML's pre-trained FPN vs a random FPN on the same encoder"),
)


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
