"""The learning-study data sets: registration (lazy, nothing built) and the label rule of the
composites (no download: the composition is tested on a synthetic cut-out)."""
import numpy as np
from detectron2.data import DatasetCatalog, MetadataCatalog

import decon_d2  # noqa: F401  (registration)
from tools.build_data.study_sets import compose, sources
from decon_d2.data.study_layout import CLASS_NAMES


def test_study_sets_are_registered_lazily_with_sem_seg_metadata():
    names = DatasetCatalog.list()
    assert {"decon_study_unlabeled", "decon_study_seg_train", "decon_study_seg_val"} <= set(names)
    meta = MetadataCatalog.get("decon_study_seg_val")
    assert meta.evaluator_type == "sem_seg" and meta.ignore_label == 255
    assert list(meta.stuff_classes) == list(CLASS_NAMES) and CLASS_NAMES[0] == "background"
    assert len(CLASS_NAMES) == 11


def test_every_class_has_stamp_folders_in_label_order():
    """Label k of the built set is the k-th stamp class: the registered names (``CLASS_NAMES``,
    data side) and the builder's folders (``sources.STAMP_FOLDERS``) name the same classes."""
    assert set(sources.STAMP_FOLDERS) == set(CLASS_NAMES[1:])
    assert tuple(name for name, _ in sources.STAMP_CLASSES) == CLASS_NAMES[1:]
    assert all(folders for _, folders in sources.STAMP_CLASSES)


def test_paste_labels_follow_the_matte_pixel_by_pixel():
    """On a black canvas a white-ish cut-out leaves canvas = alpha * 200, so each pixel's label
    can be checked against its own alpha: class where alpha >= 0.9, ignore where
    0.1 < alpha < 0.9, background where alpha <= 0.1."""
    rgba = np.zeros((60, 60, 4), np.uint8)
    rgba[..., :3] = 200
    for inset, a in ((4, 20), (10, 128), (18, 235), (24, 255)):  # nested rings of alpha
        rgba[inset:60 - inset, inset:60 - inset, 3] = a
    stamp = compose.Stamp(label=3, name="synthetic", rgba=rgba)
    canvas = np.zeros((compose.SIZE[1], compose.SIZE[0], 3), np.float32)
    label = np.zeros(canvas.shape[:2], np.uint8)
    instances = np.zeros(canvas.shape[:2], np.int16)
    compose.paste(canvas, label, instances, stamp, 1, np.random.default_rng(0))
    alpha = canvas[..., 0] / 200.0
    clear = (np.abs(alpha - 0.9) > 0.01) & (np.abs(alpha - 0.1) > 0.01)  # off the thresholds
    assert (label[clear & (alpha >= 0.9)] == 3).all()
    assert (label[clear & (alpha > 0.1) & (alpha < 0.9)] == compose.IGNORE).all()
    assert (label[clear & (alpha <= 0.1)] == 0).all()
    # every rule was exercised, including the 0.92-alpha ring that is still the class
    assert ((alpha > 0.91) & (alpha < 0.93) & (label == 3)).any()
    assert ((alpha > 0.2) & (label == compose.IGNORE)).any() and (label == 0).any()
    assert ((alpha > 0.05) & (alpha < 0.09) & (label == 0)).any()
