"""Results of an evaluation as JSON: bbox/segm AP, AP50, AP75, APs/m/l (COCOEvaluator) and
semantic segmentation mIoU, fwIoU, mACC, pACC (SemSegEvaluator).

Detectron2 reports NaN where a metric is undefined (no prediction at all, no object of a size);
the JSON holds ``null`` there, so any JSON reader can load it.
"""
import json
import math
import os
from typing import Dict, Mapping

from detectron2.utils.file_io import PathManager

from ..utils.atomic import atomic_write

KEYS = ("AP", "AP50", "AP75", "APs", "APm", "APl")
#: task -> the metrics kept in the summary
TASK_KEYS = {"bbox": KEYS, "segm": KEYS, "sem_seg": ("mIoU", "fwIoU", "mACC", "pACC")}


def _number(x):
    x = float(x)
    return None if math.isnan(x) else x


def summarize_results(results: Mapping[str, Mapping]) -> Dict[str, Dict[str, float]]:
    """``{dataset: {"bbox": {AP...}, "segm": {AP...}}}`` (or ``{"sem_seg": {mIoU...}}``) from
    ``{dataset: {task: {metric}}}``."""
    return {
        name: {task: {k: _number(v[k]) for k in TASK_KEYS[task] if k in v}
               for task, v in per_task.items() if task in TASK_KEYS}
        for name, per_task in results.items()
    }


def write_results(results: Mapping[str, Mapping], output_dir: str, extra: Mapping = None) -> str:
    """Write ``results.json`` (summary + ``extra``, e.g. the weights) under ``output_dir``."""
    PathManager.mkdirs(output_dir)
    path = os.path.join(output_dir, "results.json")
    payload = {"results": summarize_results(results), **(extra or {})}
    with atomic_write(path, "w") as f:
        json.dump(payload, f, indent=2)
    return path
