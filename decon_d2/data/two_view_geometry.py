"""Geometry of the two views: overlap-conditioned crop pairs and the overlap box in each view.

Pure functions on integer crop rectangles, so the model-facing convention is testable without
images. Conventions (docs/method.md §3.1, SlotCon's ``CustomTwoCrop``):

- A crop covers source pixels ``[left, left + width) x [top, top + height)``; its normalised
  coordinate ``u = (x - left) / width`` maps the crop's left edge to 0 and its right edge to 1,
  which is exactly the output view's ``[0, 1]`` range after resizing (pixel *edges*, not
  centres: ``roi_align(..., aligned=True)`` on ``box * feature_size`` samples the same region).
- **Overlap rule.** View 2 is redrawn until its intersection with view 1 covers at least
  ``min_overlap`` of *view 2's own crop area* (``height * width`` in source pixels), at most
  ``tries`` draws; if none qualifies, the last draw is kept as it is (unconstrained). SlotCon
  compares against the target area it drew before rounding to integer sides; we use the rounded
  crop actually taken, which differs only by that rounding.
- **Overlap box.** ``(x1, y1, x2, y2)`` of the intersection in each view's own normalised
  coordinates; a flipped view mirrors x: ``x1' = 1 - x2, x2' = 1 - x1``.
- **No overlap.** When the intersection has no area (disjoint or only touching crops), both boxes
  are exactly ``EMPTY_BOX = (1, 1, 0, 0)``: ``x2 < x1`` *and* ``y2 < y1``, and unchanged by a flip,
  so a consumer may test either inequality.
"""
from dataclasses import dataclass
from typing import Callable, Tuple

Box = Tuple[float, float, float, float]

EMPTY_BOX: Box = (1.0, 1.0, 0.0, 0.0)


@dataclass(frozen=True)
class Crop:
    """An integer crop rectangle in source-image pixels (torchvision's ``make_params`` fields)."""

    top: int
    left: int
    height: int
    width: int

    @property
    def area(self) -> int:
        return self.height * self.width

    def params(self) -> dict:
        """The dict torchvision's ``RandomResizedCrop.transform`` expects."""
        return dict(top=self.top, left=self.left, height=self.height, width=self.width)


def intersection(a: Crop, b: Crop) -> Tuple[int, int, int, int]:
    """Intersection ``(x1, y1, x2, y2)`` in source pixels; ``x2 <= x1`` or ``y2 <= y1`` if empty."""
    return (
        max(a.left, b.left), max(a.top, b.top),
        min(a.left + a.width, b.left + b.width), min(a.top + a.height, b.top + b.height),
    )


def intersection_area(a: Crop, b: Crop) -> int:
    x1, y1, x2, y2 = intersection(a, b)
    return max(0, x2 - x1) * max(0, y2 - y1)


def sample_overlapping_crop(
    sample: Callable[[], Crop], anchor: Crop, min_overlap: float, tries: int
) -> Crop:
    """Draw with ``sample()`` until the crop shares ``min_overlap`` of its own area with ``anchor``.

    At most ``tries`` draws (at least one); the last draw is returned if none qualifies.
    """
    crop = sample()
    for _ in range(max(1, tries) - 1):
        if intersection_area(anchor, crop) >= min_overlap * crop.area:
            break
        crop = sample()
    return crop


def mirror_box(box: Box) -> Box:
    """The same region after a horizontal flip of the view: ``x -> 1 - x``."""
    x1, y1, x2, y2 = box
    return (1.0 - x2, y1, 1.0 - x1, y2)


def overlap_box(crop: Crop, other: Crop, flipped: bool = False) -> Box:
    """The intersection of ``crop`` and ``other`` in ``crop``'s normalised (and flipped) frame."""
    x1, y1, x2, y2 = intersection(crop, other)
    if x2 <= x1 or y2 <= y1:
        return EMPTY_BOX
    box = (
        (x1 - crop.left) / crop.width, (y1 - crop.top) / crop.height,
        (x2 - crop.left) / crop.width, (y2 - crop.top) / crop.height,
    )
    return mirror_box(box) if flipped else box
