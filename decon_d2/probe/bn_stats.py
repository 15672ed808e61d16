"""Re-estimate a frozen backbone's BatchNorm statistics on the probe's own training images.

A pre-trained teacher carries the running statistics of its training crops (another size,
colour-jittered), a network at iteration 0 or Detectron2's random init carries (0, 1): probed in
eval mode, the rows differ in more than their weights. Re-estimating every row's statistics on
the same images at the probe's resolution (one pass, cumulative average: fvcore's precise BN)
puts them on one footing; no weight changes. docs/probe.md.
"""
import torch
from fvcore.nn.precise_bn import get_bn_modules, update_bn_stats

__all__ = ["reestimate_bn"]


@torch.no_grad()
def reestimate_bn(module: torch.nn.Module, images: torch.Tensor, pixel_mean, pixel_std, *,
                  bgr: bool = False, batch_size: int = 16) -> int:
    """Replace the running mean/var of every BatchNorm of ``module`` by their average over
    ``images`` (uint8 N x 3 x S x S RGB, normalised like the probe's input); returns the number
    of norms updated. ``module`` is left in eval mode."""
    mean = torch.as_tensor(pixel_mean, dtype=torch.float32).view(1, -1, 1, 1)
    std = torch.as_tensor(pixel_std, dtype=torch.float32).view(1, -1, 1, 1)

    def batches():
        for start in range(0, len(images), batch_size):
            x = (images[start:start + batch_size].float() - mean) / std
            yield x.flip(1) if bgr else x

    module.train()
    try:
        n = len(get_bn_modules(module))
        if n:
            update_bn_stats(module, batches(), num_iters=-(-len(images) // batch_size))
    finally:
        module.eval()
    return n
