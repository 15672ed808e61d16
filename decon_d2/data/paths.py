"""Where data sets live: ``$DETECTRON2_DATASETS`` (default ``datasets/``), as Detectron2's builtins."""
import os
from pathlib import Path

DATASETS_ENV = "DETECTRON2_DATASETS"


def datasets_root() -> Path:
    """The data root, resolved now (so a changed environment variable is honoured)."""
    return Path(os.path.expanduser(os.environ.get(DATASETS_ENV, "datasets")))
