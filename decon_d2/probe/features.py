"""Frozen features of a probe set, extracted once and cached in memory.

A level's maps are stored as float16 after a provisional per-channel affine (the first batch's
mean and std), so that half precision loses nothing that matters whatever the features' scale;
the exact per-channel standardisation (mean and std over every training pixel) is applied on the
fly when a batch is read. Validation features reuse the training set's affine and statistics.
"""
from dataclasses import dataclass
from typing import Callable, Dict, Iterable, Optional

import torch

__all__ = ["LevelFeatures", "extract_features"]

#: cached values are clipped here (thousands of first-batch stds away: outliers, not signal)
_HALF_MAX = 6.0e4


@dataclass
class LevelFeatures:
    """Cached maps of one level: ``maps`` N x C x h x w float16; ``mean``/``std`` (C) standardise
    them; ``shift``/``scale`` (C) are the provisional affine the cache was written with."""

    maps: torch.Tensor
    shift: torch.Tensor
    scale: torch.Tensor
    mean: Optional[torch.Tensor] = None
    std: Optional[torch.Tensor] = None

    def batch(self, idx) -> torch.Tensor:
        """Standardised float32 maps of the images ``idx``."""
        x = self.maps[idx].float()
        return (x - self.mean.view(1, -1, 1, 1)) / self.std.view(1, -1, 1, 1)

    def fit_standardisation(self, chunk: int = 32) -> "LevelFeatures":
        """Per-channel mean/std over every pixel of this (training) cache, in float64."""
        c = self.maps.shape[1]
        s1 = torch.zeros(c, dtype=torch.float64)
        s2 = torch.zeros(c, dtype=torch.float64)
        for i in range(0, len(self.maps), chunk):
            x = self.maps[i:i + chunk].double().transpose(0, 1).reshape(c, -1)
            s1 += x.sum(1)
            s2 += (x * x).sum(1)
        n = self.maps.numel() // c
        mean = s1 / n
        std = (s2 / n - mean * mean).clamp_min(0).sqrt()
        self.mean = mean.float()
        self.std = torch.where(std > 1e-6, std, torch.ones_like(std)).float()  # dead channels
        return self

    def with_stats_of(self, other: "LevelFeatures") -> "LevelFeatures":
        self.mean, self.std = other.mean, other.std
        return self


@torch.no_grad()
def extract_features(
    forward: Callable[[torch.Tensor], Dict[str, torch.Tensor]],
    images: torch.Tensor,
    levels: Iterable[str],
    pixel_mean,
    pixel_std,
    *,
    batch_size: int = 16,
    like: Optional[Dict[str, LevelFeatures]] = None,
    progress: Optional[Callable[[int, int], None]] = None,
) -> Dict[str, LevelFeatures]:
    """Run ``forward`` (normalised RGB N x 3 x S x S -> {level: map}) over ``images`` (uint8).

    ``like``: the training set's caches, whose provisional affine is reused (validation).
    ``progress(done, total)`` is called after each batch.
    """
    levels = list(levels)
    mean = torch.as_tensor(pixel_mean, dtype=torch.float32).view(1, -1, 1, 1)
    std = torch.as_tensor(pixel_std, dtype=torch.float32).view(1, -1, 1, 1)
    out: Dict[str, LevelFeatures] = {}
    n = len(images)
    for start in range(0, n, batch_size):
        x = (images[start:start + batch_size].float() - mean) / std
        feats = forward(x)
        for level in levels:
            f = feats[level].float()
            if level not in out:
                if like is not None:
                    shift, scale = like[level].shift, like[level].scale
                else:
                    shift = f.mean(dim=(0, 2, 3))
                    scale = f.std(dim=(0, 2, 3))
                    # channels silent in the first batch: a floor at the typical channel's scale
                    scale = scale.clamp_min(max(float(scale.mean()) * 1e-2, 1e-12))
                # channels-last: the probe gathers whole channel vectors at sampled pixels
                maps = torch.empty((n, *f.shape[1:]), dtype=torch.float16).contiguous(
                    memory_format=torch.channels_last)
                out[level] = LevelFeatures(maps, shift, scale)
            lf = out[level]
            z = (f - lf.shift.view(1, -1, 1, 1)) / lf.scale.view(1, -1, 1, 1)
            lf.maps[start:start + len(f)] = z.clamp(-_HALF_MAX, _HALF_MAX).half()
        if progress is not None:
            progress(min(start + batch_size, n), n)
    return out
