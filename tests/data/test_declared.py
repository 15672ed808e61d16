"""Data sets declared in the config: each kind registers and loads (in-process, and in a
2-iteration run through ``train_net.py``'s parser and main, whose test writes only files), the
command-line form, and every error names the key and the path."""
import json
import os

import numpy as np
import pytest
from detectron2 import model_zoo
from detectron2.data import DatasetCatalog, MetadataCatalog
from PIL import Image

from decon_d2.config.declared_opts import split_declared_opts
from decon_d2.data import DatasetNotFoundError, DeclaredDatasetError, register_declared_datasets
from decon_d2.config import build_cfg
from decon_d2.finetune import FinetuneConfigError
from decon_d2.finetune.records_check import check_num_classes, mask_format_for
from tools.paths import REPO_ROOT, config_path
from tests.helpers import write_coco_instances, write_photos, write_sem_seg
from tests.helpers.train_net import run_train_net

INSTANT = config_path("quick_schedules/slotcon_instant_test.yaml")


def _declare(*opts):
    cfg = build_cfg(INSTANT, list(opts))
    return cfg, register_declared_datasets(cfg)


def _coco_opts(name, json_rel="c/train.json", images_rel="c/images"):
    return [f"DATASETS.DECON.COCO_INSTANCES.{name}.JSON", json_rel,
            f"DATASETS.DECON.COCO_INSTANCES.{name}.IMAGES", images_rel]


def _sem_opts(name, classes="['sky', 'field', 'road']", ignore=255):
    return [f"DATASETS.DECON.SEM_SEG.{name}",
            f"{{'IMAGES': 's/images', 'LABELS': 's/labels', 'CLASSES': {classes}, "
            f"'IGNORE_LABEL': {ignore}}}"]


def test_command_line_form_declares_entries_and_keeps_key_value_overrides():
    cfg = build_cfg(INSTANT, [
        "DATASETS.DECON.IMAGE_FOLDERS.a", "photos/", "SOLVER.MAX_ITER", "5",
        "DATASETS.DECON.IMAGE_FOLDERS.b", "['x', 'y']", *_coco_opts("c"), *_sem_opts("d")])
    node = cfg.DATASETS.DECON
    assert node.IMAGE_FOLDERS.a == "photos/" and list(node.IMAGE_FOLDERS.b) == ["x", "y"]
    assert node.COCO_INSTANCES.c.JSON == "c/train.json" and node.SEM_SEG.d.IGNORE_LABEL == 255
    assert cfg.SOLVER.MAX_ITER == 5
    with pytest.raises(AssertionError, match="Non-existent key"):  # yacs still checks the rest
        build_cfg(INSTANT, ["SOLVER.NOT_A_KEY", "1"])
    assert split_declared_opts(cfg.clone(), ["SOLVER.BASE_LR", "0.1"]) == ["SOLVER.BASE_LR", "0.1"]


def test_yaml_declarations_register_and_survive_the_config_dump(tmp_datasets_root, tmp_path):
    write_photos(tmp_datasets_root / "photos" / "sub", 3)
    yaml = tmp_path / "mine.yaml"
    yaml.write_text(f'_BASE_: "{INSTANT}"\nDATASETS:\n  DECON:\n    IMAGE_FOLDERS:\n'
                    f'      decl_yaml_photos: ["photos"]\n  TRAIN: ("decl_yaml_photos",)\n')
    cfg = build_cfg(str(yaml))
    assert register_declared_datasets(cfg) == ["decl_yaml_photos"]
    assert register_declared_datasets(cfg) == ["decl_yaml_photos"]  # again: a no-op
    assert len(DatasetCatalog.get("decl_yaml_photos")) == 3  # recursive
    dumped = tmp_path / "config.yaml"
    dumped.write_text(cfg.dump())  # what default_setup writes into OUTPUT_DIR
    assert build_cfg(str(dumped)).DATASETS.DECON == cfg.DATASETS.DECON


def test_coco_kind_loads_polygons_rle_and_noncontiguous_ids(tmp_datasets_root):
    write_coco_instances(tmp_datasets_root / "c/train.json", tmp_datasets_root / "c/images", 3)
    _declare(*_coco_opts("decl_coco"))
    records = DatasetCatalog.get("decl_coco")
    meta = MetadataCatalog.get("decl_coco")
    assert len(records) == 3 and meta.evaluator_type == "coco"
    assert meta.json_file == str(tmp_datasets_root / "c/train.json")
    assert meta.thing_classes == ["class_3", "class_7"]
    assert meta.thing_dataset_id_to_contiguous_id == {3: 0, 7: 1}
    cats = {a["category_id"] for r in records for a in r["annotations"]}
    kinds = {type(a["segmentation"]).__name__ for r in records for a in r["annotations"]}
    assert cats == {0, 1} and kinds == {"list", "dict"}


def test_finetuning_checks_classes_and_picks_the_mask_format(tmp_datasets_root, caplog):
    write_coco_instances(tmp_datasets_root / "c/train.json", tmp_datasets_root / "c/images", 2)
    ft = config_path("finetune/demo/mask_rcnn_R_50_FPN_demo.yaml")
    opts = [*_coco_opts("decl_ft"), "DATASETS.TRAIN", "('decl_ft',)"]
    cfg = build_cfg(ft, [*opts, "MODEL.ROI_HEADS.NUM_CLASSES", "1"])
    register_declared_datasets(cfg)
    records = DatasetCatalog.get("decl_ft")  # thing_classes are known once loaded
    with pytest.raises(FinetuneConfigError, match="set MODEL.ROI_HEADS.NUM_CLASSES 2"):
        check_num_classes(cfg)
    check_num_classes(build_cfg(ft, [*opts, "MODEL.ROI_HEADS.NUM_CLASSES", "2"]))
    check_num_classes(build_cfg(ft, [*opts, "MODEL.ROI_HEADS.NUM_CLASSES", "5"]))
    assert "has 2 classes (the other outputs never train)" in caplog.text
    polygon = build_cfg(ft, [*opts, "INPUT.MASK_FORMAT", "polygon"])
    assert mask_format_for(polygon, records) == "bitmask"  # 2 of 4 masks are RLE
    assert "2 of 4 masks" in caplog.text and "INPUT.MASK_FORMAT" in caplog.text
    assert mask_format_for(cfg, records) is None  # the demo config already says bitmask
    no_rle = [{**r, "annotations": r["annotations"][:1]} for r in records]
    assert mask_format_for(polygon, no_rle) is None


def test_sem_seg_kind_pairs_images_with_labels(tmp_datasets_root):
    write_sem_seg(tmp_datasets_root / "s/images", tmp_datasets_root / "s/labels", 3)
    _declare(*_sem_opts("decl_seg"))
    records = DatasetCatalog.get("decl_seg")
    assert [os.path.basename(r["sem_seg_file_name"]) for r in records] == [
        "scene_000.png", "scene_001.png", "scene_002.png"]
    meta = MetadataCatalog.get("decl_seg")
    assert (meta.stuff_classes, meta.ignore_label, meta.evaluator_type) == (
        ["sky", "field", "road"], 255, "sem_seg")


def test_missing_paths_are_named_with_their_key(tmp_datasets_root):
    _declare("DATASETS.DECON.IMAGE_FOLDERS.decl_nowhere", "nowhere", *_coco_opts("decl_nojson"),
             *_sem_opts("decl_nolabels"))
    for name, key, path in (
            ("decl_nowhere", "DATASETS.DECON.IMAGE_FOLDERS.decl_nowhere", "nowhere"),
            ("decl_nojson", "DATASETS.DECON.COCO_INSTANCES.decl_nojson.JSON", "c/train.json"),
            ("decl_nolabels", "DATASETS.DECON.SEM_SEG.decl_nolabels.IMAGES", "s/images")):
        with pytest.raises(DatasetNotFoundError) as err:
            DatasetCatalog.get(name)
        msg = str(err.value)
        assert key in msg and str(tmp_datasets_root / path) in msg, msg
        assert os.path.join(os.getcwd(), path) in msg  # the second place looked at


def test_empty_folder_is_an_error(tmp_datasets_root):
    (tmp_datasets_root / "empty").mkdir()
    _declare("DATASETS.DECON.IMAGE_FOLDERS.decl_empty", "empty")
    with pytest.raises(DatasetNotFoundError, match="no images found under .*empty"):
        DatasetCatalog.get("decl_empty")


def test_json_with_missing_images_gives_count_and_names(tmp_datasets_root):
    write_coco_instances(tmp_datasets_root / "c/train.json", tmp_datasets_root / "c/images", 8)
    for i in (1, 2, 3, 4, 5, 6):
        (tmp_datasets_root / f"c/images/photo_{i:03d}.jpg").unlink()
    _declare(*_coco_opts("decl_gone"))
    with pytest.raises(DatasetNotFoundError) as err:
        DatasetCatalog.get("decl_gone")
    msg = str(err.value)
    assert "6 of 8 images" in msg and "photo_001.jpg, photo_002.jpg" in msg and "(+1 more)" in msg
    assert "DATASETS.DECON.COCO_INSTANCES.decl_gone.IMAGES" in msg


def test_label_errors_name_the_file_and_the_fix(tmp_datasets_root):
    write_sem_seg(tmp_datasets_root / "s/images", tmp_datasets_root / "s/labels", 2)
    _declare(*_sem_opts("decl_two_classes", classes="['a', 'b']"))
    with pytest.raises(ValueError, match=r"value\(s\) \[2\] outside the 2 classes"):
        DatasetCatalog.get("decl_two_classes")
    label = tmp_datasets_root / "s/labels/scene_000.png"
    Image.fromarray(np.zeros((8, 8), np.uint8)).convert("P").save(label)
    _declare(*_sem_opts("decl_palette"))
    with pytest.raises(ValueError, match=f"{label}.*'P' PNG.*convert"):
        DatasetCatalog.get("decl_palette")
    label.unlink()
    _declare(*_sem_opts("decl_unlabelled"))
    with pytest.raises(DatasetNotFoundError, match="1 of 2 images have no label PNG.*scene_000"):
        DatasetCatalog.get("decl_unlabelled")


def test_bad_declarations_are_refused_with_the_key():
    with pytest.raises(DeclaredDatasetError, match="'coco_2017_val' is already a registered"):
        _declare("DATASETS.DECON.IMAGE_FOLDERS.coco_2017_val", "x")
    with pytest.raises(DeclaredDatasetError, match=r"decl_bad: unknown field\(s\) \['JSONS'\]"):
        _declare("DATASETS.DECON.COCO_INSTANCES.decl_bad.JSONS", "x.json")
    with pytest.raises(DeclaredDatasetError, match="declared twice"):
        _declare("DATASETS.DECON.IMAGE_FOLDERS.decl_dup", "x", *_sem_opts("decl_dup"))


def _train_net(monkeypatch, *args):
    """train_net.py's parser and main in this process, from the checkout, with the data root of
    ``tmp_datasets_root`` (tests/helpers/train_net.py)."""
    monkeypatch.chdir(REPO_ROOT)
    run_train_net(*args)


def _iterations(out):
    return [json.loads(line)["iteration"] for line in open(out / "metrics.json")]


@pytest.mark.slow
def test_image_folder_pretrains_two_iterations_from_the_command_line(tmp_datasets_root, tmp_path,
                                                                      monkeypatch):
    write_photos(tmp_datasets_root / "field" / "day1", 3)
    write_photos(tmp_datasets_root / "field" / "day2", 2, seed=1)
    _train_net(monkeypatch, "--config-file", INSTANT,
               "DATASETS.DECON.IMAGE_FOLDERS.field_photos", "field",
               "DATASETS.TRAIN", "('field_photos',)", "SOLVER.MAX_ITER", 2,
               "OUTPUT_DIR", tmp_path)
    assert _iterations(tmp_path)[-1] == 1 and (tmp_path / "model_final.pth").is_file()


def test_coco_json_with_rle_masks_feeds_mask_rcnn_as_bitmasks(tmp_datasets_root, caplog):
    """A declared COCO json with RLE masks and the config's 'polygon': the fine-tuning loader
    (``FinetuneTrainer``, as train_net.py builds it) switches to bitmask and says so. Training
    on a declared COCO json through train_net.py is tests/test_walkthrough.py's."""
    from detectron2.structures import BitMasks

    from decon_d2.finetune import FinetuneTrainer

    write_coco_instances(tmp_datasets_root / "c/train.json", tmp_datasets_root / "c/images", 4)
    cfg = build_cfg(config_path("finetune/demo/mask_rcnn_R_50_FPN_demo.yaml"), [
        "MODEL.ROI_HEADS.NUM_CLASSES", 2, "INPUT.MASK_FORMAT", "polygon",
        *_coco_opts("my_field_train"), "DATASETS.TRAIN", "('my_field_train',)",
        "DATALOADER.NUM_WORKERS", 0, "SOLVER.IMS_PER_BATCH", 2])
    register_declared_datasets(cfg)
    batch = next(iter(FinetuneTrainer.build_train_loader(cfg)))
    assert "INPUT.MASK_FORMAT is 'polygon' but 4 of 8 masks" in caplog.text
    assert len(batch) == 2 and all(isinstance(b["instances"].gt_masks, BitMasks) for b in batch)
    assert all(len(b["instances"]) == 2 for b in batch)


@pytest.mark.slow
def test_sem_seg_folder_feeds_a_stock_semantic_segmentor(tmp_datasets_root, tmp_path,
                                                         monkeypatch):
    """Detectron2's own semantic FPN config (Misc/semantic_R_50_FPN_1x.yaml) through
    train_net.py (FinetuneTrainer): Detectron2's DatasetMapper reads the labels."""
    write_sem_seg(tmp_datasets_root / "s/images", tmp_datasets_root / "s/labels", 3)
    yaml = tmp_path / "seg.yaml"
    yaml.write_text(
        f'_BASE_: "{model_zoo.get_config_file("Misc/semantic_R_50_FPN_1x.yaml")}"\n'
        "MODEL:\n  DEVICE: cpu\n  WEIGHTS: ''\n  SEM_SEG_HEAD:\n    NUM_CLASSES: 3\n"
        "INPUT:\n  MIN_SIZE_TRAIN: (96,)\n  MAX_SIZE_TRAIN: 128\n"
        "DATASETS:\n  DECON:\n    SEM_SEG:\n      my_scenes:\n        IMAGES: s/images\n"
        "        LABELS: s/labels\n        CLASSES: [sky, field, road]\n"
        "  TRAIN: ('my_scenes',)\n  TEST: ()\n"
        "DATALOADER:\n  NUM_WORKERS: 0\nSOLVER:\n  IMS_PER_BATCH: 2\n  MAX_ITER: 2\n"
        "  STEPS: ()\n  WARMUP_ITERS: 1\n")
    _train_net(monkeypatch, "--config-file", yaml, "OUTPUT_DIR", tmp_path)
    metrics = [json.loads(line) for line in open(tmp_path / "metrics.json")]
    assert metrics[-1]["iteration"] == 1 and np.isfinite(metrics[-1]["total_loss"])
