"""``python -m tools.protocols.table``: every shipped fine-tuning config against its
published reference, key by key (docs/protocols.md, docs/voc_detection.md).

For each config directly under ``configs/finetune/`` (not ``Base-*``, ``demo/``, ``yourdata/``)
the merged settings of the protocol keys (``keys.py``: pixel format/mean/std, norms,
freeze-at, solver, train and test sizes, crop, data) are printed beside the reference values
(``references.py``) with a mark per row: ``=`` same, ``~`` the reference does not fix
the key, ``DIFF (documented: why)`` a deliberate difference, ``DIFF (UNDOCUMENTED)`` drift.
Limited-label presets (``DATASETS.DECON.TRAIN_FRACTION`` < 1) are listed at the end.

Exit status 0 when nothing drifted, 1 otherwise (``--check``: print only the problems).
"""
import argparse
import math
import sys
from pathlib import Path
from typing import Dict, List

from tabulate import tabulate

from decon_d2.config import build_cfg
from tools.paths import REPO_ROOT
from tools.protocols.keys import keys_for, protocol_values
from tools.protocols.references import CONFIGS, reference_for

__all__ = ["shipped_configs", "compare", "problems", "main"]

FINETUNE_DIR = Path(REPO_ROOT) / "configs" / "finetune"


def shipped_configs() -> List[Path]:
    """The runnable fine-tuning configs: ``configs/finetune/*.yaml`` but the ``Base-*`` files."""
    return sorted(p for p in FINETUNE_DIR.glob("*.yaml") if not p.name.startswith("Base-"))


def _same(a, b) -> bool:
    if isinstance(a, float) or isinstance(b, float):
        try:
            return math.isclose(float(a), float(b), rel_tol=1e-6, abs_tol=1e-9)
        except (TypeError, ValueError):
            return False
    if isinstance(a, list) and isinstance(b, list):
        return len(a) == len(b) and all(_same(x, y) for x, y in zip(a, b))
    return a == b


def compare(path: Path) -> Dict:
    """``{"config", "source", "rows": [(key, value, reference, mark, ok)], "fraction"}``."""
    cfg = build_cfg(str(path))
    ref = reference_for(path.name)
    values = protocol_values(cfg)
    rows = []
    for key in keys_for(cfg):
        want = ref.values.get(key)
        reason = ref.reasons.get(key)
        if want is None:
            mark, ok = "~ (not fixed by the reference)", True
        elif _same(values[key], want):
            mark = "=" if not reason else f"= (STALE reason: {reason})"
            ok = not reason
        else:
            mark = f"DIFF (documented: {reason})" if reason else "DIFF (UNDOCUMENTED)"
            ok = bool(reason)
        rows.append((key, values[key], "" if want is None else want, mark, ok))
    unknown = sorted(set(ref.values) - set(keys_for(cfg)) - {None})
    unknown = [k for k in unknown if ref.values[k] is not None]
    return {"config": path.name, "source": ref.source, "rows": rows, "unknown": unknown,
            "fraction": cfg.DATASETS.DECON.TRAIN_FRACTION}


def problems(results) -> List[str]:
    """Drift (an undocumented difference), stale reasons, reference keys the model lacks."""
    out = []
    for r in results:
        for key, value, want, mark, ok in r["rows"]:
            if not ok:
                out.append(f"configs/finetune/{r['config']}: {key} is {value!r}, reference "
                           f"{want!r}: {mark}; fix the config or document the reason in "
                           "tools/protocols/references.py")
        for key in r["unknown"]:
            out.append(f"configs/finetune/{r['config']}: the reference sets {key}, which this "
                       "model does not have: remove it from its reference")
    return out


def _format(r) -> str:
    rows = [(k, _short(v), _short(w), m) for k, v, w, m, _ in r["rows"]]
    return (f"== configs/finetune/{r['config']}\n   reference: {r['source']}\n"
            + tabulate(rows, headers=["key", "config", "reference", ""], tablefmt="simple"))


def _short(value) -> str:
    text = str(value)
    return text if len(text) <= 48 else text[:45] + "..."


def main(argv=None) -> int:
    p = argparse.ArgumentParser(prog="python -m tools.protocols.table",
                                description=__doc__.split("\n\n")[0])
    p.add_argument("--check", action="store_true", help="print only the problems")
    p.add_argument("--config", action="append", metavar="NAME",
                   help="only this config file name (repeatable)")
    args = p.parse_args(argv)
    paths = shipped_configs()
    missing = [x.name for x in paths if x.name not in CONFIGS]
    if args.config:
        paths = [x for x in paths if x.name in args.config]
    results = [compare(x) for x in paths if x.name in CONFIGS]
    issues = [f"configs/finetune/{m}: no reference: add it to CONFIGS in "
              "tools/protocols/references.py" for m in missing] + problems(results)
    if not args.check:
        print("\n\n".join(_format(r) for r in results))
        presets = [r for r in results if r["fraction"] < 1.0]
        print("\n== limited-label presets (DATASETS.DECON.TRAIN_FRACTION < 1)")
        print(tabulate([(f"configs/finetune/{r['config']}", r["fraction"]) for r in presets],
                       headers=["config", "train fraction"], tablefmt="simple"))
    print(f"\n{len(results)} configs compared; " + (
        f"{len(issues)} problem(s):\n" + "\n".join(f"  - {i}" for i in issues)
        if issues else "no undocumented difference"))
    return 1 if issues else 0


if __name__ == "__main__":
    sys.exit(main())
