"""The probe's results as a text table and a JSON document."""
import json
import math
from typing import Dict, List

__all__ = ["format_table", "to_json"]


def _cell(x) -> str:
    return "n/a" if x is None or (isinstance(x, float) and math.isnan(x)) else f"{x:.2f}"


def format_table(rows: List[Dict], levels: List[str]) -> str:
    """One row per weights: per level mIoU, foreground mIoU and pixel accuracy (percent).

    ``rows``: ``{"weights": label, "levels": {level: scores or {"unavailable": reason}}}``.
    """
    width = max([len("weights")] + [len(r["weights"]) for r in rows])
    head = f"{'weights':<{width}}" + "".join(
        f" | {lv + ' mIoU':>10} {'fg mIoU':>8} {'pix acc':>8}" for lv in levels)
    lines = [head, "-" * len(head)]
    notes = []
    for r in rows:
        cells = []
        for lv in levels:
            s = r["levels"].get(lv, {})
            if "unavailable" in s:
                notes.append(f"{r['weights']} {lv}: {s['unavailable']}")
            cells.append(f" | {_cell(s.get('mIoU')):>10} {_cell(s.get('mIoU_fg')):>8} "
                         f"{_cell(s.get('pixel_acc')):>8}")
        lines.append(f"{r['weights']:<{width}}" + "".join(cells))
    return "\n".join(lines + [f"n/a: {n}" for n in notes])


def to_json(document: Dict) -> str:
    """JSON with NaN written as null (the format has no NaN)."""
    def clean(x):
        if isinstance(x, float) and math.isnan(x):
            return None
        if isinstance(x, dict):
            return {k: clean(v) for k, v in x.items()}
        if isinstance(x, (list, tuple)):
            return [clean(v) for v in x]
        return x

    return json.dumps(clean(document), indent=1)
