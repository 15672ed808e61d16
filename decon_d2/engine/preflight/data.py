"""Data: every data set the run reads is registered, present and readable, before any process
starts; an image count that differs from the recipe's is a warning.

Image-folder sets (pre-training) are listed (``DatasetCatalog.get``: a directory walk, no image
is opened); sets with a ``json_file`` / ``image_root`` in their metadata (COCO-style fine-tuning
sets) have those paths checked without loading the annotations.
"""
import os
from typing import List, Optional, Tuple

from detectron2.data import DatasetCatalog, MetadataCatalog

from decon_d2.data import DatasetNotFoundError, DeclaredDatasetError
from decon_d2.data.datasets import EXPECTED_IMAGES
from decon_d2.data.paths import DATASETS_ENV

from .problems import Problem

__all__ = ["check_data", "datasets_read"]


def datasets_read(cfg, pretraining: bool) -> List[Tuple[str, str]]:
    """``(config key, name)`` of every data set the run reads."""
    keys = ["DATASETS.TRAIN"] + ([] if pretraining else ["DATASETS.TEST"])
    return [(key, name) for key in keys for name in cfg.DATASETS.get(key.split(".")[1], ())]


def _root_hint() -> str:
    value = os.environ.get(DATASETS_ENV)
    return (f"${DATASETS_ENV}={value}" if value else
            f"${DATASETS_ENV} unset (datasets/ under {os.getcwd()})")


def _metadata_paths(name: str) -> List[str]:
    meta = MetadataCatalog.get(name)
    return [p for p in (getattr(meta, "json_file", None), getattr(meta, "image_root", None)) if p]


def check_data(cfg, pretraining: bool, expected: Optional[int] = None):
    """Returns ``(problems, warnings, images)``: ``images`` the pre-training record count (None
    when a set is missing or the run fine-tunes)."""
    problems, warnings, images = [], [], 0
    registered = set(DatasetCatalog.list())
    for key, name in datasets_read(cfg, pretraining):
        if name not in registered:
            problems.append(Problem(
                f"data set '{name}' is not registered", f"{key} in the config",
                "use a registered name (docs/data.md), or declare your folder in the config "
                "(DATASETS.DECLARED, docs/data.md)"))
            continue
        paths = _metadata_paths(name)
        if paths and not pretraining:
            for p in paths:
                if not os.path.exists(p):
                    problems.append(Problem(
                        f"data set '{name}': {p} not found", f"{key}; {_root_hint()}",
                        f"put the data there (docs/finetune.md), or point ${DATASETS_ENV} at the "
                        f"folder that holds it and export it to the job"))
            continue
        try:
            n = len(DatasetCatalog.get(name))
        except (DatasetNotFoundError, DeclaredDatasetError, FileNotFoundError) as e:
            # the loaders' messages name the path and the fix already; a cluster job adds one
            problems.append(Problem(
                str(e), f"{key}; {_root_hint()}",
                f"as said above; on a cluster, export ${DATASETS_ENV} to the job (sbatch "
                f"--export=ALL, or set it in the job script)"))
            continue
        images += n
        want = EXPECTED_IMAGES.get(name)
        if want is not None and n != want:
            warnings.append(f"data set '{name}' has {n:,} images; the recipe's has {want:,} "
                            f"(a partial download or another version?)")
    if pretraining and images and expected and images != expected:
        warnings.append(f"DATASETS.TRAIN has {images:,} images but SOLVER.DECON.DATASET_SIZE is "
                        f"{expected:,}: the schedule (iterations per epoch) follows the latter")
    return problems, warnings, (images if pretraining and not problems else None)
