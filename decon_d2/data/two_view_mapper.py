"""``TwoViewMapper``: one image record -> the two-view pre-training sample of docs/contracts.md.

Per image (docs/method.md §3.1): view 1 is a RandomResizedCrop; view 2 another one, redrawn until it
overlaps view 1 enough (``two_view_geometry``); each view is flipped independently, then gets
its own photometric chain (asymmetric blur and solarisation). Sampling uses torchvision v2's own
parameter samplers (``RandomResizedCrop.make_params``, ``RandomApply``, ``ColorJitter``, ...), so
the distributions are torchvision's, not re-implementations; the blur only sizes its kernel to
the sigma drawn (``blur.py``: the fixed 23x23 kernel is slow on CPU for small sigmas).

Resizing: PIL bicubic via ``torchvision.transforms.v2.functional.resized_crop`` on the decoded
``PIL.Image`` (crop first, then resize with ``antialias=True``, which PIL always does): the
resampling SlotCon/DeCon use (torchvision's resized crop on PIL images). Photometric
transforms then run on uint8 tensors. Output views are uint8 ``3 x S x S`` RGB; normalisation
belongs to the model.

A corrupt or unreadable image makes ``__call__`` return ``None`` (Detectron2's mapper convention);
``ReplaceCorruptDataset`` turns that into a replacement sample and a count.
"""
from typing import Optional, Sequence, Tuple

import torch
from detectron2.config import configurable
from torchvision.transforms import v2
from torchvision.transforms.v2 import functional as F

from .blur import SigmaScaledGaussianBlur
from .image_io import read_rgb
from .two_view_geometry import Crop, overlap_box, sample_overlapping_crop


def _photometric_chain(
    color_jitter, color_jitter_prob, grayscale_prob, blur_sigma, blur_truncate, blur_prob,
    solarize_prob, solarize_threshold,
) -> Optional[v2.Compose]:
    """One view's colour pipeline, in BYOL/SlotCon order; steps with probability 0 are left out
    (``None`` when nothing is left)."""
    steps = []
    if color_jitter_prob > 0:
        steps.append(v2.RandomApply([v2.ColorJitter(*color_jitter)], p=color_jitter_prob))
    if grayscale_prob > 0:
        steps.append(v2.RandomGrayscale(p=grayscale_prob))
    if blur_prob > 0:
        blur = SigmaScaledGaussianBlur(sigma=tuple(blur_sigma), truncate=blur_truncate)
        steps.append(v2.RandomApply([blur], p=blur_prob))
    if solarize_prob > 0:
        steps.append(v2.RandomSolarize(threshold=solarize_threshold, p=solarize_prob))
    return v2.Compose(steps) if steps else None


class TwoViewMapper:
    """Map ``{"file_name", "image_id", ...}`` to the two-view sample (see docs/data.md).

    Returns a dict with ``file_name``, ``image_id``, ``view1``/``view2`` (uint8 3xSxS RGB),
    ``box1``/``box2`` (float32 (4,), overlap in each view's normalised, flipped frame; ``(1, 1, 0,
    0)`` when the crops do not overlap) and ``flip1``/``flip2`` (bool); or ``None`` when the
    image cannot be read.
    """

    @configurable
    def __init__(
        self,
        *,
        crop_size: int = 224,
        scale: Tuple[float, float] = (0.08, 1.0),
        ratio: Tuple[float, float] = (3.0 / 4.0, 4.0 / 3.0),
        interpolation: str = "bicubic",
        min_overlap: float = 0.01,
        overlap_tries: int = 10,
        flip_prob: float = 0.5,
        photometric: bool = True,
        color_jitter: Sequence[float] = (0.4, 0.4, 0.2, 0.1),
        color_jitter_prob: float = 0.8,
        grayscale_prob: float = 0.2,
        blur_sigma: Tuple[float, float] = (0.1, 2.0),
        blur_truncate: float = 4.0,
        blur_prob: Tuple[float, float] = (1.0, 0.1),
        solarize_prob: Tuple[float, float] = (0.0, 0.2),
        solarize_threshold: float = 128,
    ):
        """
        Args:
            crop_size: side of both square views.
            scale, ratio, interpolation: RandomResizedCrop's area range, aspect range, filter.
            min_overlap, overlap_tries: view 2 must share ``min_overlap`` of its own area with
                view 1, within ``overlap_tries`` draws (then the last draw is kept).
            flip_prob: horizontal flip probability per view.
            photometric: False turns every colour transform off (geometry only).
            color_jitter, color_jitter_prob, grayscale_prob, blur_sigma: shared by both views.
            blur_truncate: blur kernel radius in sigmas (``SigmaScaledGaussianBlur``).
            blur_prob, solarize_prob: ``(view 1, view 2)`` probabilities.
            solarize_threshold: on 0-255 values.
        """
        if not 0 <= min_overlap <= 1:
            raise ValueError(f"min_overlap must be a fraction in [0, 1], got {min_overlap}")
        self.crop_sampler = v2.RandomResizedCrop(
            crop_size, scale=tuple(scale), ratio=tuple(ratio),
            interpolation=v2.InterpolationMode(interpolation.lower()), antialias=True,
        )
        self.min_overlap = min_overlap
        self.overlap_tries = overlap_tries
        self.flip_prob = flip_prob
        self.photometric = None
        if photometric:
            self.photometric = tuple(
                _photometric_chain(
                    color_jitter, color_jitter_prob, grayscale_prob, blur_sigma,
                    blur_truncate, blur_prob[v], solarize_prob[v], solarize_threshold,
                )
                for v in (0, 1)
            )

    @classmethod
    def from_config(cls, cfg):
        c = cfg.INPUT.DECON
        return {
            "crop_size": c.CROP_SIZE, "scale": (c.MIN_SCALE, c.MAX_SCALE), "ratio": tuple(c.RATIO),
            "interpolation": c.INTERPOLATION, "min_overlap": c.MIN_OVERLAP,
            "overlap_tries": c.OVERLAP_TRIES, "flip_prob": c.FLIP_PROB,
            "photometric": c.PHOTOMETRIC, "color_jitter": tuple(c.COLOR_JITTER),
            "color_jitter_prob": c.COLOR_JITTER_PROB, "grayscale_prob": c.GRAYSCALE_PROB,
            "blur_sigma": tuple(c.BLUR_SIGMA), "blur_truncate": c.BLUR_TRUNCATE,
            "blur_prob": tuple(c.BLUR_PROB), "solarize_prob": tuple(c.SOLARIZE_PROB),
            "solarize_threshold": c.SOLARIZE_THRESHOLD,
        }

    def sample_crop(self, image) -> Crop:
        """One RandomResizedCrop rectangle for ``image``, drawn by torchvision's sampler."""
        return Crop(**self.crop_sampler.make_params([image]))

    def sample_crops(self, image) -> Tuple[Crop, Crop]:
        """View 1 unconstrained; view 2 conditioned on overlapping it."""
        crop1 = self.sample_crop(image)
        crop2 = sample_overlapping_crop(
            lambda: self.sample_crop(image), crop1, self.min_overlap, self.overlap_tries
        )
        return crop1, crop2

    def render(self, image, crop: Crop, flip: bool, view: int) -> torch.Tensor:
        """Crop, resize, flip and colour-augment one view; uint8 3xSxS."""
        out = F.pil_to_tensor(self.crop_sampler.transform(image, crop.params()))
        if flip:
            out = F.horizontal_flip(out)
        if self.photometric is not None and self.photometric[view] is not None:
            out = self.photometric[view](out)
        return out.contiguous()

    def __call__(self, dataset_dict: dict) -> Optional[dict]:
        image = read_rgb(dataset_dict["file_name"])
        if image is None:
            return None
        crops = self.sample_crops(image)
        flips = tuple(bool(torch.rand(()) < self.flip_prob) for _ in crops)
        sample = {"file_name": dataset_dict["file_name"], "image_id": dataset_dict.get("image_id")}
        for v, (crop, other, flip) in enumerate(zip(crops, crops[::-1], flips), start=1):
            sample[f"view{v}"] = self.render(image, crop, flip, v - 1)
            sample[f"box{v}"] = torch.tensor(overlap_box(crop, other, flip), dtype=torch.float32)
            sample[f"flip{v}"] = flip
        return sample
