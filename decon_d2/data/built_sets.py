"""Data sets that ``tools/build_data/`` builds: the library reads them, never builds them.

A built folder is complete when its ``MANIFEST.json`` exists (written last by the builder); a
missing one is an error naming the command that builds it, so training imports no building code.
"""
import os
from pathlib import Path

from .image_folder import DatasetNotFoundError
from .paths import DATASETS_ENV, MANIFEST

__all__ = ["require_built"]


def require_built(folder: Path, name: str, command: str) -> Path:
    """``folder`` if the builder finished it, else ``DatasetNotFoundError`` naming ``command``."""
    if not (Path(folder) / MANIFEST).is_file():
        raise DatasetNotFoundError(
            f"data set '{name}' is not built: {Path(folder).resolve()} has no {MANIFEST}. Build "
            f"it from the checkout with `{command}`, or point ${DATASETS_ENV} (now "
            f"{os.environ.get(DATASETS_ENV, 'unset: datasets/')}) at the folder that holds it.")
    return Path(folder)
