"""The sigma-sized Gaussian blur: torchvision's blur, without denormal kernel taps."""
import math

import pytest
import torch
from torchvision.transforms.v2 import functional as F
from torchvision.transforms.v2.functional._misc import _get_gaussian_kernel2d

from decon_d2.data.blur import SigmaScaledGaussianBlur


@pytest.mark.parametrize("sigma", [0.1, 0.104, 0.15, 0.3, 0.55, 0.8, 1.0, 1.37, 2.0])
def test_kernel_has_no_denormal_taps_and_matches_a_large_kernel(sigma):
    side = SigmaScaledGaussianBlur.kernel_side(sigma, 4.0)
    assert side % 2 == 1 and side <= 2 * math.ceil(4 * sigma) + 1
    kernel = _get_gaussian_kernel2d([side, side], [sigma, sigma], torch.float32,
                                    torch.device("cpu"))
    assert kernel.min() > torch.finfo(torch.float32).tiny  # smallest normal float32
    gen = torch.Generator().manual_seed(0)
    image = torch.randint(0, 256, (3, 48, 48), dtype=torch.uint8, generator=gen)
    blur = SigmaScaledGaussianBlur(sigma=(sigma, sigma))
    reference = F.gaussian_blur(image, [23, 23], [sigma, sigma])
    assert (blur(image).int() - reference.int()).abs().max() <= 1


def test_sigma_is_drawn_by_torchvisions_sampler_within_the_range():
    blur = SigmaScaledGaussianBlur(sigma=(0.1, 2.0))
    sigmas = [blur.make_params([])["sigma"][0] for _ in range(200)]
    assert 0.1 <= min(sigmas) and max(sigmas) <= 2.0 and max(sigmas) - min(sigmas) > 1.5
