"""The learning study's tables: final probe (mean ± std over seeds), online-probe curves, health.

Inputs are the study's own outputs: ``probe.json`` (``python -m decon_d2.probe``, rows in the
order the study passed the weights) and each run's ``metrics.json`` (online probe lines carry
``probe/iterations_done``; the last line carries the health signals).
"""
import json
import math
from pathlib import Path
from typing import Dict, List, Sequence, Tuple

__all__ = ["mean_std", "per_seed_table", "curves", "curve_table", "health_table", "plot_curves"]

HEALTH = ("protos_used", "proto_entropy", "slots_kept", "agreement", "agreement_excess")


def mean_std(values: Sequence[float]) -> Tuple[float, float]:
    """Mean and sample standard deviation (0 for one value); NaN when nothing is finite."""
    xs = [v for v in values if v is not None and not math.isnan(v)]
    if not xs:
        return math.nan, math.nan
    m = sum(xs) / len(xs)
    sd = math.sqrt(sum((x - m) ** 2 for x in xs) / (len(xs) - 1)) if len(xs) > 1 else 0.0
    return m, sd


def _fmt(values: Sequence[float]) -> str:
    m, sd = mean_std(values)
    return "n/a" if math.isnan(m) else f"{m:.2f} ± {sd:.2f}"


def per_seed_table(rows: List[Dict], groups: List[Tuple[str, int]], levels: List[str]) -> str:
    """Markdown: every run's numbers (the raw material of the means)."""
    head = "| weights | seed | " + " | ".join(f"{lv} mIoU | {lv} fg | {lv} pix acc"
                                              for lv in levels) + " |"
    lines = [head, "|" + "---|" * (2 + 3 * len(levels))]
    for r, (g, seed) in zip(rows, groups):
        cells = []
        for lv in levels:
            s = r["levels"][lv]
            cells += ["n/a" if s.get(k) is None else f"{s[k]:.2f}"
                      for k in ("mIoU", "mIoU_fg", "pixel_acc")]
        lines.append(f"| {g} | {seed} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def _metrics(run_dir: Path) -> List[Dict]:
    path = Path(run_dir) / "metrics.json"
    return [json.loads(x) for x in path.read_text().splitlines() if x.strip()]


def curves(run_dirs: Dict[str, List[Path]], levels: List[str]) -> Dict[str, Dict[int, Dict]]:
    """``{method: {iterations done: {level: [mIoU per seed]}}}`` from the online probe."""
    out: Dict[str, Dict[int, Dict]] = {}
    for method, dirs in run_dirs.items():
        table: Dict[int, Dict] = {}
        for d in dirs:
            for line in _metrics(d):
                if "probe/iterations_done" not in line:
                    continue
                done = int(line["probe/iterations_done"])
                for lv in levels:
                    if f"probe/{lv}/mIoU" in line:
                        table.setdefault(done, {}).setdefault(lv, []).append(
                            line[f"probe/{lv}/mIoU"])
        out[method] = dict(sorted(table.items()))
    return out


def curve_table(data: Dict[str, Dict[int, Dict]], levels: List[str]) -> str:
    cols = [(m, lv) for m in data for lv in levels
            if any(lv in v for v in data[m].values())]
    head = "| iterations | " + " | ".join(f"{m} {lv}" for m, lv in cols) + " |"
    lines = [head, "|" + "---|" * (1 + len(cols))]
    steps = sorted({s for m in data for s in data[m]})
    for s in steps:
        cells = [_fmt(data[m].get(s, {}).get(lv, [])) for m, lv in cols]
        lines.append(f"| {s} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def health_table(run_dirs: Dict[str, List[Path]]) -> str:
    """Markdown: the health signals of the last logged step, mean ± std over seeds, per level."""
    lines = ["| method | level | " + " | ".join(HEALTH) + " |", "|" + "---|" * (2 + len(HEALTH))]
    for method, dirs in run_dirs.items():
        last = [[x for x in _metrics(d) if any(k.endswith("_protos_used") for k in x)][-1]
                for d in dirs]
        levels = sorted({k[len("decon/"):-len("_protos_used")] for k in last[0]
                         if k.endswith("_protos_used")}, key=lambda s: (s[0] != "r", s))
        for lv in levels:
            cells = [_fmt([x.get(f"decon/{lv}_{h}", math.nan) for x in last]) for h in HEALTH]
            lines.append(f"| {method} | {lv} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def plot_curves(data: Dict[str, Dict[int, Dict]], levels: List[str], png: Path) -> Path:
    """Online-probe mIoU against iterations (mean, shaded ± std), one panel per level."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, len(levels), figsize=(5 * len(levels), 3.6), squeeze=False)
    for ax, lv in zip(axes[0], levels):
        for method, table in data.items():
            pts = [(s, *mean_std(v[lv])) for s, v in table.items() if lv in v]
            if not pts:
                continue
            xs, ms, sds = zip(*pts)
            ax.plot(xs, ms, marker="o", label=method)
            ax.fill_between(xs, [m - s for m, s in zip(ms, sds)],
                            [m + s for m, s in zip(ms, sds)], alpha=0.2)
        ax.set_title(f"online probe, {lv}")
        ax.set_xlabel("pre-training iterations")
        ax.set_ylabel("mIoU (%)")
        ax.grid(alpha=0.3)
        ax.legend()
    fig.tight_layout()
    fig.savefig(png, dpi=100)
    plt.close(fig)
    return png
