"""The mask format follows the annotations Detectron2's mapper keeps: COCO's crowd RLEs (dropped
by the mapper) leave the protocol's "polygon" alone; a non-crowd RLE still needs "bitmask"."""
from decon_d2.config import build_cfg
from decon_d2.finetune.records_check import count_rle, mask_format_for
from tools.paths import config_path

POLYGON = [[0.0, 0.0, 4.0, 0.0, 4.0, 4.0]]
RLE = {"size": [8, 8], "counts": "04000"}


def _records(crowd_rle: bool, plain_rle: bool = False):
    anns = [{"segmentation": POLYGON, "iscrowd": 0, "category_id": 0}]
    if crowd_rle:
        anns.append({"segmentation": RLE, "iscrowd": 1, "category_id": 0})
    if plain_rle:
        anns.append({"segmentation": RLE, "iscrowd": 0, "category_id": 0})
    return [{"file_name": "a.jpg", "annotations": anns}]


def test_coco_crowd_rles_keep_polygon():
    cfg = build_cfg(config_path("finetune/mask_rcnn_R_50_FPN_1x_decon.yaml"))
    assert cfg.INPUT.MASK_FORMAT == "polygon"
    records = _records(crowd_rle=True)
    assert count_rle(records) == (0, 1)
    assert mask_format_for(cfg, records) is None


def test_a_non_crowd_rle_still_switches_to_bitmask():
    cfg = build_cfg(config_path("finetune/mask_rcnn_R_50_FPN_1x_decon.yaml"))
    assert mask_format_for(cfg, _records(crowd_rle=True, plain_rle=True)) == "bitmask"
