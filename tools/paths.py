"""Where the checkout's own files are: the repository root holding ``tools/`` and ``configs/``."""
from pathlib import Path

__all__ = ["REPO_ROOT", "config_path"]

#: the repository root (the tools run from the checkout, never from an installed copy)
REPO_ROOT = Path(__file__).resolve().parents[1]


def config_path(relative: str) -> str:
    """Absolute path of ``configs/<relative>``; a missing file is an error naming it."""
    path = REPO_ROOT / "configs" / relative
    if not path.is_file():
        raise FileNotFoundError(f"config not found: {path}")
    return str(path)
