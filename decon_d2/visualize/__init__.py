"""Slot maps of a pre-training checkpoint (``python -m decon_d2.visualize CKPT IMAGES...``) and
the drawing shared with the TensorBoard hook (``engine/slot_map_hook.py``)."""
from .slot_maps import HEADER, draw_grid, palette, pca_rgb, slot_map_grid, teacher_maps

__all__ = ["HEADER", "draw_grid", "palette", "pca_rgb", "slot_map_grid", "teacher_maps"]
