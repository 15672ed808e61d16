"""Two-view geometry: overlap boxes, the overlap rule, flips, and pixel-level consistency."""
import pytest
import torch
from PIL import Image
from torchvision.ops import roi_align

from decon_d2.data.two_view_geometry import (
    EMPTY_BOX, Crop, intersection_area, mirror_box, overlap_box, sample_overlapping_crop,
)
from decon_d2.data.two_view_mapper import TwoViewMapper


pytestmark = pytest.mark.usefixtures("one_torch_thread")


def test_overlap_box_in_each_crops_normalised_frame():
    a = Crop(top=0, left=0, height=100, width=100)
    b = Crop(top=50, left=25, height=100, width=200)  # intersection x 25..100, y 50..100
    assert overlap_box(a, b) == pytest.approx((0.25, 0.5, 1.0, 1.0))
    assert overlap_box(b, a) == pytest.approx((0.0, 0.0, 0.375, 0.5))
    assert overlap_box(b, a, flipped=True) == pytest.approx((0.625, 0.0, 1.0, 0.5))
    assert intersection_area(a, b) == 75 * 50


@pytest.mark.parametrize("other", [
    Crop(top=0, left=200, height=50, width=50),   # disjoint in x
    Crop(top=300, left=0, height=50, width=50),   # disjoint in y only
    Crop(top=0, left=100, height=100, width=10),  # touching edge: no area
])
def test_no_overlap_gives_the_empty_box_whatever_the_flip(other):
    a = Crop(top=0, left=0, height=100, width=100)
    for flipped in (False, True):
        for box in (overlap_box(a, other, flipped), overlap_box(other, a, flipped)):
            assert box == EMPTY_BOX
            assert box[2] < box[0] and box[3] < box[1]


def test_empty_box_gives_an_all_zero_roi_align():
    """What the model relies on: roi_align(aligned=True) of a reversed box samples nothing."""
    maps = torch.rand(1, 4, 7, 7) + 1
    roi = torch.tensor([[0.0, *[c * 7 for c in EMPTY_BOX]]])
    assert roi_align(maps, roi, (7, 7), aligned=True).abs().max() == 0


def test_mirror_box_is_an_involution():
    box = (0.1, 0.2, 0.7, 0.9)
    assert mirror_box(box) == pytest.approx((0.3, 0.2, 0.9, 0.9))
    assert mirror_box(mirror_box(box)) == pytest.approx(box)


def test_sample_overlapping_crop_stops_at_first_qualifying_draw_or_after_tries():
    anchor = Crop(0, 0, 100, 100)
    far, near = Crop(0, 500, 100, 100), Crop(0, 99, 100, 100)  # near: 1% of its own area
    draws = iter([far, far, near, far])
    assert sample_overlapping_crop(lambda: next(draws), anchor, 0.01, 10) == near
    calls = []

    def always_far():
        calls.append(1)
        return Crop(0, 500 + len(calls), 100, 100)

    crop = sample_overlapping_crop(always_far, anchor, 0.01, 10)
    assert len(calls) == 10 and crop == Crop(0, 510, 100, 100)  # the last, unconstrained draw


def test_one_percent_overlap_rule_over_many_samples():
    torch.manual_seed(0)
    mapper = TwoViewMapper(photometric=False)
    image = Image.new("RGB", (640, 480))
    draws = []
    original = mapper.sample_crop
    mapper.sample_crop = lambda img: (draws.append(1), original(img))[1]
    exhausted = 0
    for _ in range(2000):
        draws.clear()
        crop1, crop2 = mapper.sample_crops(image)
        n_view2_draws = len(draws) - 1
        assert 1 <= n_view2_draws <= 10
        if intersection_area(crop1, crop2) < 0.01 * crop2.area:
            assert n_view2_draws == 10  # only an exhausted search may break the rule
            exhausted += 1
    assert exhausted <= 20


def _coordinate_image(width=256, height=192) -> Image.Image:
    """R = x, G = y: each pixel's value is its own source coordinate."""
    xs = torch.arange(width).view(1, -1).expand(height, width)
    ys = torch.arange(height).view(-1, 1).expand(height, width)
    rgb = torch.stack([xs, ys, torch.zeros_like(xs)], dim=-1).to(torch.uint8)
    return Image.fromarray(rgb.numpy())


def _decode(view: torch.Tensor, flipped: bool, box, grid: int = 8):
    """Source coordinates seen at a grid of points inside ``box``, flips undone; plus a mask of
    points at least 2 output pixels away from the view's border (resampling clamps there)."""
    if flipped:  # undo the flip: the view back in source orientation, and the box with it
        view, box = view.flip(-1), mirror_box(tuple(box.tolist()))
    x1, y1, x2, y2 = box
    size = view.shape[-1]
    # As the model samples its maps: roi_align(aligned=True) on box * size (one sample per bin).
    roi = torch.tensor([[0.0, x1 * size, y1 * size, x2 * size, y2 * size]])
    values = roi_align(view[None, :2].float(), roi, (grid, grid), aligned=True, sampling_ratio=1)[0]
    t = (torch.arange(grid, dtype=torch.float64) + 0.5) / grid  # the bin centres
    u = (x1 + t * (x2 - x1)).view(1, -1).expand(grid, grid)
    v = (y1 + t * (y2 - y1)).view(-1, 1).expand(grid, grid)
    inner = (u * size > 2) & (u * size < size - 2) & (v * size > 2) & (v * size < size - 2)
    return values + 0.5, inner  # pixel x holds x: its centre is at x + 0.5


@pytest.fixture
def coordinate_reader(monkeypatch):
    """Every file the mapper reads is the coordinate image."""
    image = _coordinate_image()
    monkeypatch.setattr("decon_d2.data.two_view_mapper.read_rgb", lambda path: image)
    return image


def test_views_show_their_crop_with_normalised_edge_coordinates(coordinate_reader):
    """Point u of a view shows source x = left + u * width (pixel edges, not centres)."""
    torch.manual_seed(3)
    mapper = TwoViewMapper(photometric=False)
    for _ in range(20):
        crop = mapper.sample_crop(coordinate_reader)
        view = mapper.render(coordinate_reader, crop, flip=False, view=0)
        seen, inner = _decode(view, False, (0.0, 0.0, 1.0, 1.0))
        t = (torch.arange(8, dtype=torch.float64) + 0.5) / 8
        want_x = (crop.left + t * crop.width).view(1, -1).expand(8, 8)
        want_y = (crop.top + t * crop.height).view(-1, 1).expand(8, 8)
        assert (seen[0] - want_x).abs()[inner].max() <= 1.0
        assert (seen[1] - want_y).abs()[inner].max() <= 1.0


def test_overlap_boxes_show_the_same_content_after_undoing_flips(coordinate_reader):
    """Geometry end to end through the mapper, photometric augmentation off."""
    torch.manual_seed(1)
    mapper = TwoViewMapper(photometric=False)
    samples = [mapper({"file_name": "coords", "image_id": 0}) for _ in range(40)]
    checked = flips = 0
    for s in samples:
        flips += s["flip1"] + s["flip2"]
        if s["box1"][2] < s["box1"][0]:
            assert torch.equal(s["box1"], s["box2"])
            continue
        c1, in1 = _decode(s["view1"], s["flip1"], s["box1"])
        c2, in2 = _decode(s["view2"], s["flip2"], s["box2"])
        inner = in1 & in2
        err = (c1 - c2).abs()[:, inner]
        assert err.numel() and err.max() <= 1.5, (s["box1"], s["box2"], err.max())
        checked += 1
    assert checked >= 35 and 15 <= flips <= 65


def test_flip_flags_agree_with_mirrored_boxes_and_views(coordinate_reader):
    out = {}
    for p in (0.0, 1.0):
        torch.manual_seed(7)  # same crops: flips are drawn after them, whatever p is
        out[p] = TwoViewMapper(photometric=False, flip_prob=p)({"file_name": "c"})
    plain, flipped = out[0.0], out[1.0]
    for v in (1, 2):
        assert plain[f"flip{v}"] is False and flipped[f"flip{v}"] is True
        assert torch.allclose(flipped[f"box{v}"],
                              torch.tensor(mirror_box(tuple(plain[f"box{v}"].tolist()))))
        assert torch.equal(flipped[f"view{v}"], plain[f"view{v}"].flip(-1))


def test_mapper_boxes_show_the_one_percent_rule(monkeypatch):
    """Box 2's normalised area *is* the overlap's share of view 2's crop: at least 1%."""
    image = Image.new("RGB", (640, 480))
    monkeypatch.setattr("decon_d2.data.two_view_mapper.read_rgb", lambda path: image)
    torch.manual_seed(5)
    mapper = TwoViewMapper(crop_size=16, photometric=False)
    areas = []
    for _ in range(300):
        x1, y1, x2, y2 = mapper({"file_name": "blank"})["box2"].tolist()
        areas.append((x2 - x1) * (y2 - y1))
    assert min(areas) >= 0.01 - 1e-6 and max(areas) <= 1 + 1e-6
