"""Build the learning-study data sets under ``$DETECTRON2_DATASETS`` (default ``datasets/``).

Usage: ``python -m tools.build_data study [--force]``. Needs ``requirements-study.txt``
installed and, unless its Debian packages are installed, ``apt-get`` (files are fetched with
``apt-get download``).

- ``decon_study_unlabeled/``: real photos as RGB JPEGs, short side at most 640 px (decoding cost
  on CPU), none under 128 px, exact and near duplicates (dHash) dropped, none shared with the
  segmentation set's backgrounds.
- ``decon_study_seg/``: ``images/{train,val}/*.jpg`` + ``labels/{train,val}/*.png`` (uint8:
  0 = background, k = line k of ``class_names.txt`` counting from 0, 255 = ignore),
  ``annotations/{split}.json`` (records with sizes and pasted objects) and ``class_names.txt``.
  Train and val use disjoint stamps (object photos) and disjoint backgrounds, so val measures
  generalisation to unseen objects and scenes.

Each data set is written to a temporary folder and renamed into place (``MANIFEST.json`` last), so
an interrupted build leaves nothing behind and a finished one is never rebuilt without ``--force``.
Folders, class names and the ignore value: ``decon_d2/data/study_layout.py``.
"""
import argparse
import io
import json
import logging
import re
import time
from importlib import metadata
from pathlib import Path, PurePosixPath
from typing import Callable, Dict, Iterator, List, Optional, Tuple

import numpy as np
from PIL import Image, ImageOps

from decon_d2.data import study_layout as layout
from decon_d2.data.study_layout import CLASS_NAMES
from tools.build_data.manifest_dir import MANIFEST, build_manifest_dir
from tools.build_data.study_sets import compose, qt_rcc, sources
from tools.build_data.study_sets.fetch import DebSources, MissingSourceError, match, pip_dir, resolve

logger = logging.getLogger(__name__)

MAX_SHORT_SIDE = 640  # unlabeled photos are downscaled to this (COCO-like) short side
MIN_SHORT_SIDE = 128  # smaller photos are left out
DUPLICATE_BITS = 3  # dHash Hamming distance at or under which two photos count as one
BACKGROUND_SHORT_SIDE = 720  # backgrounds are kept at this size before cropping
SEG_IMAGES = {"train": 300, "val": 100}
SEED = 20250417


# ---- reading the sources ---------------------------------------------------------------------
Photo = Tuple[str, str, Callable[[], Image.Image]]  # (package, path inside it, opener)


def _open_path(path: Path) -> Callable[[], Image.Image]:
    return lambda: Image.open(path)


def _open_bytes(blob: bytes) -> Callable[[], Image.Image]:
    return lambda: Image.open(io.BytesIO(blob))


def _unlabeled_photos(debs: DebSources) -> Iterator[Photo]:
    for package, patterns in sources.PIP_PHOTOS.items():
        root = pip_dir(package)
        for path in resolve(root, patterns, package):
            yield package, path.relative_to(root).as_posix(), _open_path(path)
    for package, patterns in sources.DEB_PHOTOS.items():
        root = debs.root(package, patterns)
        for path in resolve(root, patterns, package):
            yield package, path.relative_to(root).as_posix(), _open_path(path)
    package = "gcompris-qt-data"
    rcc_dir = debs.root(package, (sources.GCOMPRIS_RCC_DIR + "/",)) / sources.GCOMPRIS_RCC_DIR
    for bundle, pattern in sources.GCOMPRIS_PHOTOS:
        if not (rcc_dir / bundle).is_file():
            raise MissingSourceError(f"{package}: {rcc_dir / bundle} not found")
        found = sorted(qt_rcc.read_rcc(rcc_dir / bundle, lambda p: match(p, pattern)))
        if not found:
            raise MissingSourceError(f"{package}: nothing matches {bundle}:{pattern}")
        for inner, blob in found:
            yield package, f"{bundle}:{inner}", _open_bytes(blob)


def _backgrounds(debs: DebSources) -> List[Tuple[str, Path]]:
    found = []
    for package, patterns in sources.BACKGROUNDS.items():
        root = debs.root(package, patterns)
        found += [(f"{package}:{p.relative_to(root).as_posix()}", p)
                  for p in resolve(root, patterns, package)]
    return found


def _stamps(debs: DebSources) -> Dict[int, List[Tuple[str, Path]]]:
    """Photo stamps per 1-based class, sorted by path."""
    root = debs.root(sources.STAMPS_DEB, (sources.STAMPS_ROOT + "/",)) / sources.STAMPS_ROOT
    by_class = {}
    for label, (name, folders) in enumerate(sources.STAMP_CLASSES, start=1):
        files = sorted(
            p for folder in folders for p in (root / folder).rglob("*.png")
            if not sources.STAMP_SKIP_DIRS.intersection(p.relative_to(root).parts)
            and p.name not in sources.STAMP_SKIP_FILES and not p.stem.endswith("_mirror"))
        if len(files) < 4:  # the 3:1 split needs at least one stamp per class in val
            raise MissingSourceError(
                f"{sources.STAMPS_DEB}: class '{name}' has {len(files)} stamps under {root}")
        by_class[label] = [(p.relative_to(root).as_posix(), p) for p in files]
    return by_class


def _rgb(opener: Callable[[], Image.Image], max_short: Optional[int]) -> Image.Image:
    """Decode as RGB (EXIF orientation applied), downscaled to ``max_short`` if larger."""
    with opener() as im:
        if max_short and min(im.size) > max_short:
            im.draft("RGB", tuple(s * max_short // min(im.size) for s in im.size))  # JPEG: fast
        im = ImageOps.exif_transpose(im).convert("RGB")
    if max_short and min(im.size) > max_short:
        scale = max_short / min(im.size)
        im = im.resize((round(im.width * scale), round(im.height * scale)), Image.LANCZOS)
    return im


def _dhash(im: Image.Image) -> int:
    """64-bit difference hash: signs of horizontal gradients of a 9x8 grey thumbnail."""
    g = np.asarray(im.convert("L").resize((9, 8), Image.BILINEAR), dtype=np.int16)
    return int("".join("1" if b else "0" for b in (g[:, 1:] > g[:, :-1]).ravel()), 2)


def _near(h: int, hashes: List[int]) -> Optional[int]:
    return next((i for i, o in enumerate(hashes) if bin(h ^ o).count("1") <= DUPLICATE_BITS), None)


def _unique_name(package: str, rel: str, used) -> str:
    """``<package>_<stem>.jpg``; wallpapers named by resolution use their folder's name instead."""
    path = PurePosixPath(rel.split(":")[-1])
    folder = next((p for p in reversed(path.parent.parts) if p not in ("contents", "images")), "")
    stem = folder if re.fullmatch(r"\d+x\d+", path.stem) else path.stem
    candidates = (f"{package}_{stem}", f"{package}_{folder}_{stem}",
                  *(f"{package}_{folder}_{stem}_{i}" for i in range(2, 1000)))
    return next(n + ".jpg" for n in candidates if n + ".jpg" not in used)


def _versions(debs: DebSources, packages) -> Dict[str, dict]:
    dists = metadata.packages_distributions()
    out = {}
    for p in packages:
        version = debs.versions.get(p)
        if version is None:
            version = metadata.version(dists.get(p, [p])[0])
        out[p] = {"version": version, "license": sources.LICENSES.get(p, "see package")}
    return out


# ---- writers ----------------------------------------------------------------------------------
def _write_unlabeled(dest: Path, debs: DebSources) -> dict:
    background_hashes = [_dhash(_rgb(_open_path(p), BACKGROUND_SHORT_SIDE))
                         for _, p in _backgrounds(debs)]
    hashes, names, files, per_source = [], [], {}, {}
    small, duplicates, short_sides = [], [], []
    for package, rel, opener in _unlabeled_photos(debs):
        im = _rgb(opener, MAX_SHORT_SIDE)
        ident = f"{package}:{rel}"
        if min(im.size) < MIN_SHORT_SIDE:
            small.append(ident)
            continue
        h = _dhash(im)
        if _near(h, background_hashes) is not None:
            duplicates.append([ident, "a decon_study_seg background"])
            continue
        twin = _near(h, hashes)
        if twin is not None:
            duplicates.append([ident, files[names[twin]]])
            continue
        name = _unique_name(package, rel, files)
        im.save(dest / name, quality=92)
        hashes.append(h)
        names.append(name)
        files[name] = ident
        per_source[package] = per_source.get(package, 0) + 1
        short_sides.append(min(im.size))
    versions = _versions(debs, per_source)
    return {
        "images": len(files),
        "sources": {p: dict(versions[p], images=n) for p, n in per_source.items()},
        "short_side": {"min": min(short_sides), "median": float(np.median(short_sides)),
                       "max": max(short_sides), "under_200": sum(s < 200 for s in short_sides)},
        "left_out_small": small, "left_out_duplicates": duplicates,
        "processing": f"RGB JPEG q92, short side <= {MAX_SHORT_SIDE} px, >= {MIN_SHORT_SIDE} px",
        "files": files,
    }


def _split(items: list) -> Dict[str, list]:
    """Deterministic 3:1 train/val split of a sorted list (every 4th item to val)."""
    return {"train": [x for i, x in enumerate(items) if i % 4 != 3],
            "val": [x for i, x in enumerate(items) if i % 4 == 3]}


def _write_seg(dest: Path, debs: DebSources) -> dict:
    stamps = _stamps(debs)
    backgrounds = _split(_backgrounds(debs))
    (dest / "annotations").mkdir()
    (dest / "class_names.txt").write_text("\n".join(CLASS_NAMES) + "\n")
    summary = {"format": "images/{split}/*.jpg + labels/{split}/*.png (uint8; 0 background, "
                         "k = class_names.txt line k (0-based), 255 ignore)",
               "classes": list(CLASS_NAMES), "size": list(compose.SIZE), "seed": SEED,
               "splits": {}}
    for s, split in enumerate(("train", "val")):
        rng = np.random.default_rng([SEED, s])
        bgs = [_rgb(_open_path(p), BACKGROUND_SHORT_SIDE) for _, p in backgrounds[split]]
        split_stamps = {
            label: [compose.load_stamp(p, label, rel) for rel, p in _split(items)[split]]
            for label, items in stamps.items()}
        (dest / "images" / split).mkdir(parents=True)
        (dest / "labels" / split).mkdir(parents=True)
        records, pixels, objects = [], np.zeros(256, np.int64), 0
        for i in range(SEG_IMAGES[split]):
            rgb, label, objs = compose.composite(bgs, split_stamps, i, rng)
            image, label_file = f"images/{split}/{i:06d}.jpg", f"labels/{split}/{i:06d}.png"
            Image.fromarray(rgb).save(dest / image, quality=95)
            Image.fromarray(label).save(dest / label_file)
            pixels += np.bincount(label.ravel(), minlength=256)
            objects += len(objs)
            for o in objs:
                o["category"] = CLASS_NAMES[o["label"]]
            records.append({"file_name": image, "sem_seg_file_name": label_file,
                            "height": int(label.shape[0]), "width": int(label.shape[1]),
                            "image_id": i, "objects": objs})
        (dest / "annotations" / f"{split}.json").write_text(json.dumps(records))
        summary["splits"][split] = {
            "images": len(records), "objects": objects,
            "stamps": {CLASS_NAMES[k]: len(v) for k, v in split_stamps.items()},
            "backgrounds": [name for name, _ in backgrounds[split]],
            "pixel_fraction": {CLASS_NAMES[k]: round(float(pixels[k] / pixels.sum()), 4)
                               for k in range(len(CLASS_NAMES))},
            "ignore_fraction": round(float(pixels[compose.IGNORE] / pixels.sum()), 4),
        }
    summary["sources"] = _versions(
        debs, [sources.STAMPS_DEB] + sorted(sources.BACKGROUNDS))
    return summary


# ---- atomic build -----------------------------------------------------------------------------
def _build_atomically(final: Path, writer: Callable[[Path, DebSources], dict], force: bool,
                      debs: Optional[DebSources]) -> Path:
    """``build_manifest_dir`` with the Debian sources opened only when a build runs, and the
    build time in the manifest."""
    def write(tmp: Path) -> dict:
        start = time.perf_counter()
        if debs is None:
            with DebSources() as own:
                summary = writer(tmp, own)
        else:
            summary = writer(tmp, debs)
        summary["build_seconds"] = round(time.perf_counter() - start, 1)
        return summary

    return build_manifest_dir(final, write, force)


def ensure_unlabeled(force: bool = False, debs: Optional[DebSources] = None) -> Path:
    return _build_atomically(layout.unlabeled_dir(), _write_unlabeled, force, debs)


def ensure_seg(force: bool = False, debs: Optional[DebSources] = None) -> Path:
    return _build_atomically(layout.seg_dir(), _write_seg, force, debs)


def main(argv: Optional[List[str]] = None, prog: Optional[str] = None) -> int:
    parser = argparse.ArgumentParser(prog=prog, description=__doc__.splitlines()[0])
    parser.add_argument("--force", action="store_true", help="rebuild even if already built")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="[decon-study-data] %(message)s")
    with DebSources() as debs:  # one download of each Debian package for both data sets
        for name, ensure in ((layout.UNLABELED, ensure_unlabeled),
                             ("decon_study_seg", ensure_seg)):
            path = ensure(force=args.force, debs=debs)
            summary = json.loads((path / MANIFEST).read_text())
            brief = {k: v for k, v in summary.items()
                     if k in ("images", "short_side", "build_seconds")}
            if "splits" in summary:
                brief["splits"] = {s: {k: v[k] for k in ("images", "objects", "stamps")}
                                   for s, v in summary["splits"].items()}
            print(f"{name}: {path.resolve()} {json.dumps(brief)}")
    return 0
