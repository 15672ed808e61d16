"""``SlidingWindowSegmentor``: Detectron2's ``SemanticSegmentor`` with sliding-window inference.

Detectron2 segments the whole test image in one pass; the Cityscapes protocol (docs/method.md
§4.5) segments 769 x 769 windows every 513 pixels and averages the logits where they overlap
(``TEST.SLIDING_WINDOW``). Windows start every ``stride`` pixels, the last one flush with the
border, so every pixel is covered and no window leaves the image; an image smaller than the window
is one window (whole-image inference). All windows of an image go through the network as one batch.

In inference the logits are upsampled to the exact (padded) input size with the head's own
``align_corners`` (``FCNHead``: the protocol's corner-aligned upsampling; Detectron2's
``SemSegFPNHead``: its scale-factor upsampling, identical at its size divisibility), then resized
to the original image size with the same ``align_corners`` (as mmseg; Detectron2's
``sem_seg_postprocess`` always uses False). Training is ``SemanticSegmentor``'s.
"""
from typing import Callable, List, Sequence, Tuple

import torch
import torch.nn.functional as F
from detectron2.config import configurable
from detectron2.modeling import META_ARCH_REGISTRY, SemanticSegmentor
from detectron2.structures import ImageList


__all__ = ["SlidingWindowSegmentor", "window_starts", "sliding_window_logits",
           "resize_to_original"]


def window_starts(length: int, window: int, stride: int) -> List[int]:
    """Origins of windows of ``window`` pixels every ``stride`` pixels along ``length``; the last
    window ends at ``length``. ``ceil((length - window) / stride) + 1`` windows (1 if it fits)."""
    if window <= 0 or stride <= 0:
        raise ValueError(f"window {window} and stride {stride} must be positive")
    if length <= window:
        return [0]
    n = -(-(length - window) // stride) + 1
    return [min(i * stride, length - window) for i in range(n)]


def sliding_window_logits(logits_fn: Callable[[List[torch.Tensor]], List[torch.Tensor]],
                          image: torch.Tensor, window: Sequence[int], stride: Sequence[int]
                          ) -> torch.Tensor:
    """Average of the window logits, ``K x H x W`` for a ``C x H x W`` image.

    ``logits_fn(crops)`` maps a list of ``C x h x w`` crops to their ``K x h x w`` logits.
    """
    h, w = image.shape[-2:]
    wh, ww = min(window[0], h), min(window[1], w)
    boxes = [(y, x) for y in window_starts(h, wh, stride[0]) for x in window_starts(w, ww, stride[1])]
    outs = logits_fn([image[:, y:y + wh, x:x + ww] for y, x in boxes])
    total = outs[0].new_zeros((outs[0].shape[0], h, w))
    count = outs[0].new_zeros((1, h, w))
    for (y, x), out in zip(boxes, outs):
        total[:, y:y + wh, x:x + ww] += out
        count[:, y:y + wh, x:x + ww] += 1
    return total / count


def resize_to_original(logits: torch.Tensor, height: int, width: int, align_corners: bool
                       ) -> torch.Tensor:
    """``K x height x width`` logits: Detectron2's ``sem_seg_postprocess`` with the head's
    ``align_corners``, as mmseg resizes to the original image with the decode head's setting."""
    return F.interpolate(logits[None], size=(height, width), mode="bilinear",
                         align_corners=align_corners)[0]


@META_ARCH_REGISTRY.register()
class SlidingWindowSegmentor(SemanticSegmentor):
    """``SemanticSegmentor`` + optional sliding-window inference.

    Args:
        sliding_window: ``((window_h, window_w), (stride_h, stride_w))`` or None (whole image).
        others: as ``SemanticSegmentor``.
    """

    @configurable
    def __init__(self, *, sliding_window: Tuple[Sequence[int], Sequence[int]] = None, **kwargs):
        super().__init__(**kwargs)
        self.sliding_window = sliding_window

    @classmethod
    def from_config(cls, cfg):
        ret = super().from_config(cfg)
        sw = cfg.TEST.SLIDING_WINDOW
        ret["sliding_window"] = (tuple(sw.CROP_SIZE), tuple(sw.STRIDE)) if sw.ENABLED else None
        return ret

    def image_logits(self, images: List[torch.Tensor]) -> List[torch.Tensor]:
        """``K x h x w`` logits of each ``C x h x w`` image (input format, 0-255), one batch."""
        x = [(im.to(self.device) - self.pixel_mean) / self.pixel_std for im in images]
        batch = ImageList.from_tensors(x, self.backbone.size_divisibility,
                                       padding_constraints=self.backbone.padding_constraints)
        head = self.sem_seg_head
        logits = F.interpolate(head.layers(self.backbone(batch.tensor)),
                               size=batch.tensor.shape[-2:], mode="bilinear",
                               align_corners=getattr(head, "align_corners", False))
        return [r[:, :h, :w] for r, (h, w) in zip(logits, batch.image_sizes)]

    def forward(self, batched_inputs):
        if self.training:
            return super().forward(batched_inputs)
        images = [b["image"] for b in batched_inputs]
        if self.sliding_window is None:
            logits = self.image_logits(images)
        else:
            logits = [sliding_window_logits(self.image_logits, im, *self.sliding_window)
                      for im in images]
        align = getattr(self.sem_seg_head, "align_corners", False)
        return [{"sem_seg": resize_to_original(r, b.get("height", r.shape[-2]),
                                               b.get("width", r.shape[-1]), align)}
                for r, b in zip(logits, batched_inputs)]
