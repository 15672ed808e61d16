"""The two-view mapper: output format (docs/contracts.md), config wiring, augmentation chains."""
import numpy as np
import pytest
import torch
from detectron2.config import get_cfg
from PIL import Image
from torchvision.transforms import v2

from decon_d2.config import add_decon_config
from decon_d2.data import TwoViewMapper
from decon_d2.data.two_view_geometry import EMPTY_BOX


pytestmark = pytest.mark.usefixtures("one_torch_thread")


def _photo(path, size=(320, 240)):
    rng = np.random.default_rng(0)
    Image.fromarray(rng.integers(0, 256, (size[1], size[0], 3), dtype=np.uint8)).save(path)
    return str(path)


def test_sample_follows_the_contract(tmp_path):
    torch.manual_seed(0)
    path = _photo(tmp_path / "a.jpg")
    mapper = TwoViewMapper(get_cfg_with_decon())
    for _ in range(4):
        s = mapper({"file_name": path, "image_id": 5, "extra": "ignored"})
        assert s["file_name"] == path and s["image_id"] == 5
        for v in (1, 2):
            view, box = s[f"view{v}"], s[f"box{v}"]
            assert view.dtype == torch.uint8 and view.shape == (3, 224, 224)
            assert box.dtype == torch.float32 and box.shape == (4,)
            assert isinstance(s[f"flip{v}"], bool)
            if tuple(box.tolist()) != EMPTY_BOX:
                assert 0 <= box.min() and box.max() <= 1 and box[0] < box[2] and box[1] < box[3]
        assert "extra" not in s


def get_cfg_with_decon():
    return add_decon_config(get_cfg())


def test_from_config_reads_every_key():
    cfg = get_cfg_with_decon()
    c = cfg.INPUT.DECON
    overrides = {
        "CROP_SIZE": ("crop_size", 96), "MIN_SCALE": ("scale", (0.3, 0.9)),
        "MAX_SCALE": ("scale", (0.3, 0.9)), "RATIO": ("ratio", (0.5, 2.0)),
        "INTERPOLATION": ("interpolation", "bilinear"), "MIN_OVERLAP": ("min_overlap", 0.05),
        "OVERLAP_TRIES": ("overlap_tries", 3), "FLIP_PROB": ("flip_prob", 0.25),
        "PHOTOMETRIC": ("photometric", False),
        "COLOR_JITTER": ("color_jitter", (0.1, 0.2, 0.3, 0.04)),
        "COLOR_JITTER_PROB": ("color_jitter_prob", 0.5), "GRAYSCALE_PROB": ("grayscale_prob", 0.3),
        "BLUR_SIGMA": ("blur_sigma", (0.2, 1.0)), "BLUR_TRUNCATE": ("blur_truncate", 3.0),
        "BLUR_PROB": ("blur_prob", (0.7, 0.3)), "SOLARIZE_PROB": ("solarize_prob", (0.1, 0.4)),
        "SOLARIZE_THRESHOLD": ("solarize_threshold", 100),
    }
    for key, (_, value) in overrides.items():
        if key == "MIN_SCALE":
            value = value[0]
        elif key == "MAX_SCALE":
            value = value[1]
        setattr(c, key, value)
    kwargs = TwoViewMapper.from_config(cfg)
    for key, (arg, value) in overrides.items():
        assert kwargs[arg] == value, key
    assert set(c.keys()) - set(overrides) == {"MAX_CORRUPT_IN_A_ROW"}  # read by the loader


def test_config_changes_reach_the_samplers():
    cfg = get_cfg_with_decon()
    cfg.INPUT.DECON.CROP_SIZE = 96
    cfg.INPUT.DECON.MIN_SCALE = 0.2
    cfg.INPUT.DECON.INTERPOLATION = "bilinear"
    cfg.INPUT.DECON.BLUR_PROB = (0.5, 0.0)
    cfg.INPUT.DECON.SOLARIZE_PROB = (0.0, 0.0)
    mapper = TwoViewMapper(cfg)
    assert tuple(mapper.crop_sampler.size) == (96, 96) and mapper.crop_sampler.scale == (0.2, 1.0)
    assert mapper.crop_sampler.interpolation == v2.InterpolationMode.BILINEAR
    names = [[type(t).__name__ for t in chain.transforms] for chain in mapper.photometric]
    assert names == [["RandomApply", "RandomGrayscale", "RandomApply"],
                     ["RandomApply", "RandomGrayscale"]]
    cfg.INPUT.DECON.PHOTOMETRIC = False
    assert TwoViewMapper(cfg).photometric is None


def test_default_chains_are_asymmetric_as_in_the_recipe():
    mapper = TwoViewMapper(get_cfg_with_decon())
    assert mapper.crop_sampler.interpolation == v2.InterpolationMode.BICUBIC
    assert mapper.crop_sampler.scale == (0.08, 1.0)
    assert mapper.crop_sampler.ratio == pytest.approx((3 / 4, 4 / 3))
    for view, (blur_p, solarize_p) in enumerate([(1.0, None), (0.1, 0.2)]):
        steps = mapper.photometric[view].transforms
        jitter = steps[0]
        assert jitter.p == 0.8 and isinstance(jitter.transforms[0], v2.ColorJitter)
        cj = jitter.transforms[0]
        assert cj.brightness == (0.6, 1.4) and cj.contrast == (0.6, 1.4)
        assert cj.saturation == (0.8, 1.2) and cj.hue == (-0.1, 0.1)
        assert isinstance(steps[1], v2.RandomGrayscale) and steps[1].p == 0.2
        blur = steps[2]
        assert blur.p == blur_p and blur.transforms[0].sigma == [0.1, 2.0]
        assert isinstance(blur.transforms[0], v2.GaussianBlur) and blur.transforms[0].truncate == 4
        if solarize_p is None:
            assert len(steps) == 3
        else:
            assert isinstance(steps[3], v2.RandomSolarize)
            assert steps[3].p == solarize_p and steps[3].threshold == 128


def test_photometric_off_keeps_crop_pixels(tmp_path):
    """Without colour transforms a full-image, unflipped view of a flat image stays flat."""
    path = tmp_path / "flat.png"
    Image.new("RGB", (64, 48), (10, 200, 30)).save(path)
    mapper = TwoViewMapper(photometric=False, flip_prob=0.0)
    s = mapper({"file_name": str(path)})
    for v in (1, 2):
        assert torch.equal(s[f"view{v}"], torch.tensor([10, 200, 30], dtype=torch.uint8)
                           .view(3, 1, 1).expand(3, 224, 224))


def test_mapper_returns_none_for_an_unreadable_file(tmp_path):
    bad = tmp_path / "bad.jpg"
    bad.write_bytes(b"not an image")
    assert TwoViewMapper()({"file_name": str(bad)}) is None
