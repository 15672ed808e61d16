"""Slot maps: which prototype the teacher assigns each pixel to, per level, and a PCA view.

For each image, a row of tiles: the image; the teacher's prototype assignment (arg-max of the
grouping scores, ``SlotConHead.embed``) at every level with a loss head (res5, then the decoder
levels), one fixed colour per prototype; then the first three principal components of the res5
and p2 maps as RGB (one PCA over all images of the grid, so colours compare across images).
Healthy runs show object-shaped, image-consistent segments; a collapse shows one flat colour.
"""
import colorsys
from typing import Dict, List

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image, ImageDraw

__all__ = ["palette", "teacher_maps", "pca_rgb", "draw_grid", "slot_map_grid", "HEADER"]

#: height (px) of the column titles above the grid
HEADER = 14


def palette(k: int) -> np.ndarray:
    """``k`` x 3 uint8 colours, prototype i always the same colour (golden-ratio hues, three
    brightness levels)."""
    out = []
    for i in range(k):
        h = (i * 0.618033988749895) % 1.0
        s, v = (0.85, 0.95) if i % 3 == 0 else (0.55, 0.85) if i % 3 == 1 else (0.95, 0.6)
        out.append([round(c * 255) for c in colorsys.hsv_to_rgb(h, s, v)])
    return np.asarray(out, dtype=np.uint8)


@torch.no_grad()
def teacher_maps(model, images: torch.Tensor, branch: str = "teacher"):
    """(assignments {level: N x h x w}, features {level: N x C x h x w}) of ``images`` (uint8
    N x 3 x S x S RGB) through the model's ``branch`` in eval mode (its mode is restored)."""
    net = getattr(model, branch)
    plain = [type(h).__name__ for h in net.heads.values() if not hasattr(h, "embed")]
    if plain:
        raise ValueError(f"slot maps need prototype heads (SlotCon); this model's heads are "
                         f"{sorted(set(plain))}")
    training = net.training
    net.eval()
    try:
        x = (images.to(model.device).float() - model.pixel_mean) / model.pixel_std
        feats = net.backbone(x)
        assign = {lv: head.embed(feats[lv])[1].argmax(1).cpu() for lv, head in net.heads.items()}
    finally:
        net.train(training)
    return assign, {lv: f.float().cpu() for lv, f in feats.items()}


def pca_rgb(feats: torch.Tensor) -> torch.Tensor:
    """N x C x h x w -> N x 3 x h x w in [0, 1]: the top three principal components over all
    pixels of all images, each stretched between its 1st and 99th percentile."""
    n, c, h, w = feats.shape
    x = feats.double().permute(0, 2, 3, 1).reshape(-1, c)
    x = x - x.mean(0)
    _, vecs = torch.linalg.eigh(x.t() @ x)
    comps = x @ vecs[:, -3:].flip(1)
    if comps.shape[1] < 3:
        comps = F.pad(comps, (0, 3 - comps.shape[1]))
    lo, hi = torch.quantile(comps, 0.01, dim=0), torch.quantile(comps, 0.99, dim=0)
    comps = ((comps - lo) / (hi - lo).clamp_min(1e-12)).clamp(0, 1)
    return comps.reshape(n, h, w, 3).permute(0, 3, 1, 2).float()


def _tile(x: torch.Tensor, size: int) -> np.ndarray:
    """C x h x w -> size x size x C by nearest upsampling."""
    up = F.interpolate(x[None].float(), size=(size, size), mode="nearest")[0]
    return up.permute(1, 2, 0).numpy()


def draw_grid(images: torch.Tensor, assign: Dict[str, torch.Tensor],
              pca: Dict[str, torch.Tensor], num_prototypes: int) -> np.ndarray:
    """The grid as an H x W x 3 uint8 array: HEADER + N * S rows, (1 + levels + PCA) * S columns."""
    n, _, s, _ = images.shape
    colours = torch.from_numpy(palette(num_prototypes))
    titles = ["image"] + [f"slots {lv}" for lv in assign] + [f"PCA {lv}" for lv in pca]
    rows = []
    for i in range(n):
        tiles = [images[i].permute(1, 2, 0).numpy()]
        tiles += [_tile(colours[a[i]].permute(2, 0, 1), s) for a in assign.values()]
        tiles += [_tile(p[i] * 255, s) for p in pca.values()]
        rows.append(np.concatenate([t.astype(np.uint8) for t in tiles], axis=1))
    grid = np.concatenate(rows, axis=0)
    canvas = Image.new("RGB", (grid.shape[1], grid.shape[0] + HEADER), (255, 255, 255))
    canvas.paste(Image.fromarray(grid), (0, HEADER))
    draw = ImageDraw.Draw(canvas)
    for j, title in enumerate(titles):
        draw.text((j * s + 2, 1), title, fill=(0, 0, 0))
    return np.array(canvas)  # a writable copy (torch.from_numpy warns on read-only arrays)


def slot_map_grid(model, images: torch.Tensor, branch: str = "teacher",
                  pca_levels: List[str] = ("res5", "p2")) -> np.ndarray:
    """The whole picture for ``images`` (uint8 N x 3 x S x S RGB)."""
    assign, feats = teacher_maps(model, images, branch)
    k = max(h.prototypes.num_embeddings for h in getattr(model, branch).heads.values())
    pca = {lv: pca_rgb(feats[lv]) for lv in pca_levels if lv in feats}
    return draw_grid(images.cpu(), assign, pca, k)
