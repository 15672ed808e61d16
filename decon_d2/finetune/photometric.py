"""mmseg's ``PhotoMetricDistortion`` as a Detectron2 augmentation
(``INPUT.PHOTOMETRIC_DISTORTION``).

The ADE20K reference pipeline (mmseg's ``ade20k.py``) distorts the colours of every training crop
after the flip; the authors' VOC/Cityscapes pipelines do not (docs/protocols.md). Each step is
drawn independently with probability 0.5: brightness + U(-32, 32); contrast x U(0.5, 1.5), either
first or last (a coin decides); saturation x U(0.5, 1.5) and hue + an integer in [-18, 17]
(numpy's exclusive upper bound, OpenCV's 0..180 hue scale), each through its own HSV round trip.
Every step rounds back to uint8 in 0..255, as mmseg does.
Labels are untouched (a ``ColorTransform``).
"""
import functools

import cv2
import numpy as np
from detectron2.data import transforms as T

__all__ = ["PhotoMetricDistortion", "distort"]


def _affine(img, alpha=1.0, beta=0.0):
    return np.clip(img.astype(np.float32) * alpha + beta, 0, 255).astype(np.uint8)


def distort(img, *, brightness=None, contrast=None, contrast_first=True, saturation=None,
            hue=None):
    """The distortion with fixed draws (None = step skipped) of an RGB uint8 image."""
    img = np.asarray(img, dtype=np.uint8)
    if brightness is not None:
        img = _affine(img, beta=brightness)
    if contrast is not None and contrast_first:
        img = _affine(img, alpha=contrast)
    if saturation is not None:
        hsv = cv2.cvtColor(img, cv2.COLOR_RGB2HSV)
        hsv[..., 1] = _affine(hsv[..., 1], alpha=saturation)
        img = cv2.cvtColor(hsv, cv2.COLOR_HSV2RGB)
    if hue is not None:
        hsv = cv2.cvtColor(img, cv2.COLOR_RGB2HSV)
        hsv[..., 0] = (hsv[..., 0].astype(int) + hue) % 180
        img = cv2.cvtColor(hsv, cv2.COLOR_HSV2RGB)
    if contrast is not None and not contrast_first:
        img = _affine(img, alpha=contrast)
    return img


class PhotoMetricDistortion(T.Augmentation):
    """Draws the steps of :func:`distort` for each image (``INPUT.FORMAT`` must be RGB)."""

    def get_transform(self, image):
        coin = lambda: np.random.rand() < 0.5  # noqa: E731
        draws = {
            "brightness": np.random.uniform(-32, 32) if coin() else None,
            "contrast_first": coin(),
            "contrast": np.random.uniform(0.5, 1.5) if coin() else None,
            "saturation": np.random.uniform(0.5, 1.5) if coin() else None,
            "hue": int(np.random.randint(-18, 18)) if coin() else None,
        }
        return T.ColorTransform(functools.partial(distort, **draws))
