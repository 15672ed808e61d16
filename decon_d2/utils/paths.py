"""Where the repository's own files are: the checkout holding this package (``configs/``)."""
from pathlib import Path

__all__ = ["REPO_ROOT", "config_path"]

#: the repository root (decon-d2 is installed in editable mode from its checkout)
REPO_ROOT = Path(__file__).resolve().parents[2]


def config_path(relative: str) -> str:
    """Absolute path of ``configs/<relative>``; a missing file is an error naming it."""
    path = REPO_ROOT / "configs" / relative
    if not path.is_file():
        raise FileNotFoundError(f"config not found: {path} (decon-d2 reads its configs/ from the "
                                "checkout it is installed from: pip install -e .)")
    return str(path)
