"""A data-set folder built once, atomically, and marked complete by its manifest.

The demo and study data sets are written into a temporary folder, ``MANIFEST.json`` (the
writer's summary) last, and renamed into place (``utils.atomic.atomic_directory``): an
interrupted build leaves nothing that looks complete, and a finished one is not built again.
"""
import json
import logging
from pathlib import Path
from typing import Callable

from decon_d2.data.paths import MANIFEST  # written last: its presence marks a complete data set
from decon_d2.utils.atomic import atomic_directory

__all__ = ["MANIFEST", "build_manifest_dir"]

logger = logging.getLogger(__name__)


def build_manifest_dir(final: Path, writer: Callable[[Path], dict], force: bool) -> Path:
    """``final``, built by ``writer(tmp) -> summary`` unless it is complete and not ``force``."""
    def complete(folder):
        return (folder / MANIFEST).is_file()

    if complete(final) and not force:
        return final
    with atomic_directory(final, is_complete=complete, force=force) as tmp:
        logger.info("building %s ...", final)
        summary = writer(tmp)
        (tmp / MANIFEST).write_text(json.dumps(summary, indent=1))
    logger.info("built %s: %s", final, summary)
    return final
