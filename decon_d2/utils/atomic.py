"""Atomic writes: a file or folder appears complete under its name, or not at all.

Everything is written under a temporary name in the destination's folder and renamed into place
(``os.replace``/``os.rename`` are atomic on POSIX within a file system), so a run killed mid-write
leaves the previous version (or nothing), never a truncated checkpoint, ``.pkl`` or data set.
A file's data is fsync'ed before the rename and the folder after it, so a node that loses power
does not leave a complete name over incomplete data.
"""
import contextlib
import os
import shutil
import tempfile
from pathlib import Path

__all__ = ["atomic_write", "temp_path_beside", "atomic_directory"]


def temp_path_beside(path, suffix=".tmp") -> str:
    """A new, empty temporary file in ``path``'s folder (hidden name); the caller replaces it
    onto ``path`` or deletes it."""
    folder = os.path.dirname(os.path.abspath(path))
    fd, tmp = tempfile.mkstemp(prefix="." + os.path.basename(path) + ".", suffix=suffix,
                               dir=folder)
    os.close(fd)
    return tmp


def _fsync_folder(folder) -> None:
    """Make a rename in ``folder`` durable (not every file system can sync a folder)."""
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


@contextlib.contextmanager
def atomic_write(path, mode="wb"):
    """``with atomic_write(path, "w") as f: f.write(...)``: ``path`` is replaced only when the
    block finishes without an exception."""
    tmp = temp_path_beside(path)
    try:
        with open(tmp, mode) as f:
            yield f
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
        _fsync_folder(os.path.dirname(os.path.abspath(path)))
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)


@contextlib.contextmanager
def atomic_directory(final, *, is_complete=lambda folder: False, force=False):
    """``with atomic_directory(final) as tmp: <fill tmp>``: ``tmp`` is renamed to ``final`` when
    the block succeeds. An existing ``final`` is replaced when ``force`` or when it is not
    ``is_complete``; a complete one made meanwhile by a concurrent builder that won the race is
    kept, and ours discarded."""
    final = Path(final)
    final.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{final.name}.partial-", dir=final.parent))
    try:
        yield tmp
        if final.exists() and (force or not is_complete(final)):
            shutil.rmtree(final)
        try:
            os.rename(tmp, final)
        except OSError:
            if not is_complete(final):
                raise
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
