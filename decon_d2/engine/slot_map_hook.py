"""``SlotMapHook``: the teacher's slot maps of a fixed set of images, to TensorBoard.

Every ``TEST.DECON.VIS_PERIOD`` iterations and at the last one, the main process draws the grid
of ``python -m decon_d2.visualize`` (``visualize/slot_maps.py``) for the first
``VIS_NUM_IMAGES`` images of ``VIS_DATASET`` (default ``PROBE_VAL``) and puts it into the storage
as ``slot_maps``, which Detectron2's TensorBoard writer saves. No communication is involved
(eval-mode forward of the teacher), so other processes simply go on.
"""
import logging
import time

import torch
from detectron2.data import DatasetCatalog
from detectron2.engine.hooks import HookBase
from detectron2.utils import comm

from decon_d2.head_specs import head_spec
from decon_d2.probe import load_images
from decon_d2.visualize import slot_map_grid

from .hooks import unwrap_ddp

__all__ = ["SlotMapHook"]

logger = logging.getLogger(__name__)


class SlotMapHook(HookBase):
    """See the module docstring."""

    def __init__(self, cfg):
        d = cfg.TEST.DECON
        self.period = d.VIS_PERIOD
        if not head_spec(cfg.MODEL.DECON.HEAD.NAME).slot_maps:
            raise ValueError(f"TEST.DECON.VIS_PERIOD > 0 draws prototype assignments, which "
                             f"{cfg.MODEL.DECON.HEAD.NAME} has none of (heads whose spec sets "
                             "slot_maps only, e.g. SlotCon's): set TEST.DECON.VIS_PERIOD 0")
        self.dataset = d.VIS_DATASET or d.PROBE_VAL
        if not self.dataset:
            raise ValueError("TEST.DECON.VIS_PERIOD > 0 needs TEST.DECON.VIS_DATASET (or "
                             "TEST.DECON.PROBE_VAL): the registered data set to draw images from")
        self.num_images, self.size = d.VIS_NUM_IMAGES, d.VIS_SIZE
        self._images = None

    def before_train(self):
        if comm.is_main_process():
            records = DatasetCatalog.get(self.dataset)[: self.num_images]
            self._images = load_images([r["file_name"] for r in records], self.size)
            if self.trainer.start_iter == 0:
                self._draw()

    def after_step(self):
        nxt = self.trainer.iter + 1
        if comm.is_main_process() and (nxt % self.period == 0 or nxt == self.trainer.max_iter):
            self._draw()

    def _draw(self):
        t0 = time.perf_counter()
        grid = slot_map_grid(unwrap_ddp(self.trainer.model), self._images)
        self.trainer.storage.put_image("slot_maps", torch.from_numpy(grid).permute(2, 0, 1))
        logger.info(f"slot maps drawn at iteration {self.trainer.storage.iter} "
                    f"({time.perf_counter() - t0:.1f} s)")
