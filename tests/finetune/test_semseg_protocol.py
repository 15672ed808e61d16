"""The segmentation configs follow their references (docs/protocols.md): plain random crop on
VOC/Cityscapes (the authors' pipelines), class-area limit and photometric distortion on ADE20K
(mmseg's), the references' test sizes and evaluation intervals; palette label PNGs read as
indices; the final resize with the head's align_corners."""
import numpy as np
import pytest
import torch
import torch.nn.functional as F
from detectron2.data import DatasetMapper
from detectron2.data import transforms as T
from detectron2.modeling import build_model
from PIL import Image

from decon_d2.config import build_cfg
from decon_d2.finetune.photometric import PhotoMetricDistortion, distort
from decon_d2.finetune.semseg_trainer import SemSegDatasetMapper, build_sem_seg_train_augmentation
from tools.paths import config_path

# config stem -> (class-area limit, photometric, test short side / long cap, eval period)
PROTOCOL = {
    "voc12aug_30k": (1.0, False, (513, 2049), 3000),
    "cityscapes_90k": (1.0, False, (1025, 2049), 9000),
    "ade20k_80k": (0.75, True, (512, 2048), 8000),
}
CONFIGS = [(f"finetune/{m}_{d}_decon.yaml", d) for d in PROTOCOL
           for m in (("fcn_R_50_D1" if d == "ade20k_80k" else "fcn_R_50_D6"),
                     "semantic_R_50_FPN")]


@pytest.mark.parametrize("path,data", CONFIGS, ids=[c[0][9:-11] for c in CONFIGS])
def test_crop_colour_test_size_and_eval_period_follow_the_reference(path, data):
    cfg = build_cfg(config_path(path), ["MODEL.WEIGHTS", ""])
    area, photometric, test_size, period = PROTOCOL[data]
    assert cfg.INPUT.CROP.SINGLE_CATEGORY_MAX_AREA == area
    assert cfg.INPUT.PHOTOMETRIC_DISTORTION == photometric
    assert (cfg.INPUT.MIN_SIZE_TEST, cfg.INPUT.MAX_SIZE_TEST) == test_size
    assert cfg.TEST.EVAL_PERIOD == period and cfg.SOLVER.MAX_ITER % period == 0
    augs = build_sem_seg_train_augmentation(cfg)
    kinds = [type(a).__name__ for a in augs]
    assert kinds[:3] == ["ResizeShortestEdge", "RandomCrop_CategoryAreaConstraint", "RandomFlip"]
    assert ("PhotoMetricDistortion" in kinds) == photometric


def test_palette_labels_are_read_as_class_indices(tmp_path):
    """VOC's official masks are palette PNGs: Detectron2's mapper reads them as grey levels."""
    label = np.array([[0, 1, 15], [20, 255, 1]], np.uint8).repeat(4, 0).repeat(4, 1)
    png = Image.fromarray(label, mode="P")
    png.putpalette([v for i in range(256) for v in ((i * 37) % 256, (i * 91) % 256, i)])
    png.save(tmp_path / "l.png")
    Image.new("RGB", label.shape[::-1]).save(tmp_path / "i.jpg")
    record = {"file_name": str(tmp_path / "i.jpg"), "sem_seg_file_name": str(tmp_path / "l.png"),
              "height": label.shape[0], "width": label.shape[1]}
    cfg = build_cfg(config_path("finetune/demo/fcn_R_50_D6_demo.yaml"))
    ours = SemSegDatasetMapper(cfg, is_train=True, augmentations=[])(record)
    assert torch.equal(ours["sem_seg"], torch.as_tensor(label, dtype=torch.long))
    stock = DatasetMapper(cfg, is_train=True, augmentations=[])(record)
    assert not torch.equal(stock["sem_seg"], ours["sem_seg"])


def test_photometric_distortion_changes_colours_only():
    rng = np.random.default_rng(0)
    img = rng.integers(0, 256, (6, 8, 3), dtype=np.uint8)
    assert np.array_equal(distort(img), img)
    bright = distort(img, brightness=40.0)
    assert np.array_equal(bright, np.clip(img.astype(int) + 40, 0, 255))
    grey = np.full((2, 2, 3), 100, np.uint8)
    assert np.array_equal(distort(grey, hue=10, saturation=1.5), grey)  # no colour to shift
    np.random.seed(0)
    t = PhotoMetricDistortion().get_transform(img)
    assert isinstance(t, T.ColorTransform)
    seg = rng.integers(0, 21, (6, 8)).astype(np.uint8)
    assert np.array_equal(t.apply_segmentation(seg), seg)


def test_final_resize_uses_the_heads_align_corners():
    torch.manual_seed(0)
    cfg = build_cfg(config_path("finetune/demo/fcn_R_50_D6_demo.yaml"),
                    ["MODEL.WEIGHTS", "", "MODEL.SEM_SEG_HEAD.CONVS_DIM", "16"])
    model = build_model(cfg).eval()
    image = torch.randint(0, 256, (3, 33, 49)).float()
    with torch.no_grad():
        (logits,) = model.image_logits([image])
        out = model([{"image": image, "height": 66, "width": 98}])[0]["sem_seg"]
    want = F.interpolate(logits[None], size=(66, 98), mode="bilinear", align_corners=True)[0]
    torch.testing.assert_close(out, want)
