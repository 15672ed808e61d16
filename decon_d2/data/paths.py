"""Where data sets live: ``$DETECTRON2_DATASETS`` (default ``datasets/``), as Detectron2's builtins."""
import os
from pathlib import Path
from typing import List, Union

DATASETS_ENV = "DETECTRON2_DATASETS"
# Written last into each data set that ``tools/build_data/`` builds: marks it complete.
MANIFEST = "MANIFEST.json"


def datasets_root() -> Path:
    """The data root, resolved now (so a changed environment variable is honoured)."""
    return Path(os.path.expanduser(os.environ.get(DATASETS_ENV, "datasets")))


def data_path_candidates(path: Union[str, Path]) -> List[Path]:
    """Where a path of a declared data set is looked for, in order: an absolute path (or ``~``)
    as given; a relative one under the data root first, then in the working directory."""
    path = Path(os.path.expanduser(str(path)))
    if path.is_absolute():
        return [path]
    return [datasets_root() / path, Path.cwd() / path]


def resolve_data_path(path: Union[str, Path]) -> Path:
    """The first candidate that exists, else the first one (whose absence is reported later)."""
    candidates = data_path_candidates(path)
    return next((c for c in candidates if c.exists()), candidates[0])


def lookup_note(path: Union[str, Path]) -> str:
    """Where ``path`` was looked for, for error messages."""
    tried = " and ".join(str(c.resolve()) for c in data_path_candidates(path))
    return (f"looked for {tried} (relative paths: under ${DATASETS_ENV}, now "
            f"{os.environ.get(DATASETS_ENV, 'unset: datasets/')}, then the working directory)")
