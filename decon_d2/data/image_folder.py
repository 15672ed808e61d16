"""Image-only data sets: any folder of images, listed recursively, labels ignored.

Records are ``{"file_name": path, "image_id": i}``; the two-view mapper needs nothing else.
Listing uses ``os.scandir`` (no per-file ``stat`` or decoding), so 118k files take about a second.
"""
import os
from pathlib import Path
from typing import Callable, List, Optional, Sequence, Union

from detectron2.data import DatasetCatalog, MetadataCatalog

from .paths import DATASETS_ENV

IMAGE_EXTENSIONS = (".jpg", ".jpeg", ".png", ".bmp", ".ppm", ".pgm", ".tif", ".tiff", ".webp")


class DatasetNotFoundError(FileNotFoundError):
    """A registered data set's folder is missing; the message names the path and how to set it."""


def list_images(root: Union[str, Path]) -> List[str]:
    """All image files under ``root`` (recursive, sorted, hidden entries skipped)."""
    found, stack = [], [os.fspath(root)]
    while stack:
        with os.scandir(stack.pop()) as entries:
            for entry in entries:
                if entry.name.startswith("."):
                    continue
                if entry.is_dir(follow_symlinks=True):
                    stack.append(entry.path)
                elif entry.name.lower().endswith(IMAGE_EXTENSIONS):
                    found.append(entry.path)
    found.sort()
    return found


def check_root(root: Union[str, Path], name: str, hint: str = "") -> Path:
    """Raise ``DatasetNotFoundError`` naming the expected path unless ``root`` is a folder."""
    root = Path(root)
    if not root.is_dir():
        raise DatasetNotFoundError(
            f"data set '{name}': folder not found: {root.resolve()}. Data sets are looked up "
            f"under ${DATASETS_ENV} (now {os.environ.get(DATASETS_ENV, 'unset: datasets/')})"
            + (f"; {hint}" if hint else ".")
        )
    return root


def check_roots(roots: Sequence[Union[str, Path]], name: str, hint: str = "") -> List[Path]:
    """Like ``check_root`` for several folders; one error names every missing one."""
    missing = [Path(r) for r in roots if not Path(r).is_dir()]
    if len(missing) == 1:
        check_root(missing[0], name, hint)
    if missing:
        raise DatasetNotFoundError(
            f"data set '{name}': folders not found: "
            + ", ".join(str(m.resolve()) for m in missing)
            + f". Data sets are looked up under ${DATASETS_ENV} "
            f"(now {os.environ.get(DATASETS_ENV, 'unset: datasets/')})"
            + (f"; {hint}" if hint else ".")
        )
    return [Path(r) for r in roots]


def load_image_folder(
    root: Union[str, Path, Sequence[Union[str, Path]]], name: str, hint: str = ""
) -> List[dict]:
    """Records of every image under ``root`` (or under each of several roots, concatenated)."""
    roots = [root] if isinstance(root, (str, Path)) else list(root)
    files = [f for r in check_roots(roots, name, hint) for f in list_images(r)]
    if not files:
        where = ", ".join(str(Path(r).resolve()) for r in roots)
        raise DatasetNotFoundError(f"data set '{name}': no images found under {where}")
    return [{"file_name": f, "image_id": i} for i, f in enumerate(files)]


Root = Union[str, Path, Callable[[], Path]]


def register_image_folder(
    name: str,
    root: Union[Root, Sequence[Root]],
    hint: str = "",
    prepare: Optional[Callable[[], object]] = None,
) -> None:
    """Register ``name`` as the images under ``root`` (a path, or a function giving one).

    ``root`` may also be a list of such roots, whose images are concatenated in that order
    (``image_id`` numbers them all). ``prepare`` runs first on every load (e.g. building the
    check that a built data set is complete). Nothing touches the disk at registration time.
    """
    roots = [root] if isinstance(root, (str, Path)) or callable(root) else list(root)

    def load() -> List[dict]:
        if prepare is not None:
            prepare()
        return load_image_folder([r() if callable(r) else r for r in roots], name, hint)

    DatasetCatalog.register(name, load)
    MetadataCatalog.get(name).set(evaluator_type="none", image_only=True)
