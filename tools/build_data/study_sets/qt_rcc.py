"""Read files out of a Qt binary resource bundle (``.rcc``), as GCompris ships its pictures.

Format (Qt's rcc, versions 1-3): header ``qres``, version, then offsets of the tree, the data and
the names. A tree node is 14 bytes (22 from version 2: + modification time): name offset, flags,
then (directory) child count and first child index, or (file) locale and data offset. Names are
UTF-16BE with a length and a hash before them; data blobs have a 4-byte size before them. Flag 1
means zlib-compressed (after a 4-byte uncompressed length), flag 4 zstd (not supported here).
"""
import struct
import zlib
from pathlib import Path
from typing import Callable, Iterator, Tuple

_DIRECTORY, _ZLIB, _ZSTD = 2, 1, 4


def read_rcc(path: Path, keep: Callable[[str], bool] = lambda p: True
             ) -> Iterator[Tuple[str, bytes]]:
    """Yield ``(path inside the bundle, file bytes)`` for the files whose path ``keep`` accepts."""
    blob = Path(path).read_bytes()
    if blob[:4] != b"qres":
        raise ValueError(f"{path}: not a Qt resource bundle")
    version, tree, data, names = struct.unpack(">IIII", blob[4:20])
    node_size = 14 if version == 1 else 22

    def name(offset: int) -> str:
        (length,) = struct.unpack(">H", blob[names + offset:names + offset + 2])
        start = names + offset + 6  # skip length and hash
        return blob[start:start + 2 * length].decode("utf-16-be")

    stack = [(0, "")]
    while stack:
        index, prefix = stack.pop()
        at = tree + index * node_size
        name_offset, flags = struct.unpack(">IH", blob[at:at + 6])
        path_here = f"{prefix}/{name(name_offset)}" if index else ""
        if flags & _DIRECTORY:
            count, first = struct.unpack(">II", blob[at + 6:at + 14])
            stack += [(first + i, path_here) for i in range(count)]
            continue
        if not keep(path_here.lstrip("/")):
            continue
        (offset,) = struct.unpack(">I", blob[at + 10:at + 14])
        (size,) = struct.unpack(">I", blob[data + offset:data + offset + 4])
        raw = blob[data + offset + 4:data + offset + 4 + size]
        if flags & _ZSTD:
            raise ValueError(f"{path}: {path_here} is zstd-compressed (unsupported)")
        yield path_here.lstrip("/"), zlib.decompress(raw[4:]) if flags & _ZLIB else raw

