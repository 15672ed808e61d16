"""Synthetic two-view batches in the mapper's output format (docs/contracts.md): what the
benchmark times (no data loading or augmentation in the step) and the tests feed the model."""
import torch

__all__ = ["synthetic_batch"]


def synthetic_batch(n, crop, seed=0):
    """``n`` two-view samples in the contract format (docs/contracts.md): random uint8 views,
    partly overlapping boxes, one flipped view in two, so every loss term runs."""
    g = torch.Generator().manual_seed(seed)
    out = []
    for i in range(n):
        out.append({
            "file_name": f"synthetic_{i}",
            "image_id": i,
            "view1": torch.randint(0, 256, (3, crop, crop), dtype=torch.uint8, generator=g),
            "view2": torch.randint(0, 256, (3, crop, crop), dtype=torch.uint8, generator=g),
            "box1": torch.tensor([0.1, 0.2, 0.8, 0.9]),
            "box2": torch.tensor([0.0, 0.05, 0.75, 0.6]),
            "flip1": bool(i % 2),
            "flip2": False,
        })
    return out
