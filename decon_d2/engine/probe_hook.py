"""``OnlineProbeHook``: the dense linear probe of the exported network during pre-training.

Every ``TEST.DECON.PROBE_PERIOD`` iterations, at the last iteration and, on a fresh run, before
the first, the main process probes the backbone the converter exports (``model.export_branch``:
the teacher, the student of DenseCL heads; eval mode, fp32) exactly as
``python -m decon_d2.probe`` would (docs/probe.md) and writes ``probe/<level>/mIoU``,
``probe/<level>/mIoU_fg``, ``probe/<level>/pixel_acc``, ``probe/seconds`` and
``probe/iterations_done`` (the x-axis of a learning curve: 0 for the probe before the first
step) to the storage at its current iteration, and has metrics.json and TensorBoard written
at once (so no probe is lost between two periodic writes). The other processes
wait at a barrier meanwhile, so no collective of the next step starts while one rank is busy.
The teacher's eval-mode forward uses no communication (BatchNorm running statistics), so it
cannot deadlock.
"""
import logging
import time

from detectron2.engine.hooks import HookBase, PeriodicWriter
from detectron2.utils import comm
from detectron2.utils.events import CommonMetricPrinter

from decon_d2.probe import ProbeSettings, load_probe_set, probe_features

from .hooks import unwrap_ddp

__all__ = ["OnlineProbeHook", "check_probe_cfg"]

logger = logging.getLogger(__name__)


def check_probe_cfg(cfg) -> None:
    """Errors naming the key, before any work."""
    d = cfg.TEST.DECON
    if d.PROBE_PERIOD > 0 and not (d.PROBE_TRAIN and d.PROBE_VAL):
        raise ValueError("TEST.DECON.PROBE_PERIOD > 0 needs TEST.DECON.PROBE_TRAIN and "
                         "TEST.DECON.PROBE_VAL (registered data sets with dense labels)")
    for key in ("PROBE_SIZE", "VIS_SIZE"):
        if getattr(d, key) % 32:
            raise ValueError(f"TEST.DECON.{key} = {getattr(d, key)} must be a multiple of 32")


class OnlineProbeHook(HookBase):
    """See the module docstring."""

    def __init__(self, cfg):
        check_probe_cfg(cfg)
        d = cfg.TEST.DECON
        self.period = d.PROBE_PERIOD
        self.datasets = (d.PROBE_TRAIN, d.PROBE_VAL)
        self.levels = list(d.PROBE_LEVELS)
        self.size, self.max_images = d.PROBE_SIZE, d.PROBE_MAX_IMAGES
        self.settings = ProbeSettings(epochs=d.PROBE_EPOCHS, seed=max(cfg.SEED, 0))
        self._sets = None

    def _model(self):
        return unwrap_ddp(self.trainer.model)

    def before_train(self):
        model = self._model()
        have = set(getattr(model, model.export_branch).backbone.output_shape())
        skipped = [lv for lv in self.levels if lv not in have]
        self.levels = [lv for lv in self.levels if lv in have]
        if skipped:
            logger.warning(f"online probe: the model has no {skipped} map; probing {self.levels}")
        if comm.is_main_process():
            train = load_probe_set(self.datasets[0], self.size, self.max_images)
            val = load_probe_set(self.datasets[1], self.size, self.max_images,
                                 classes=train.classes)
            self._sets = (train, val)
            logger.info(f"online probe: {len(train)} train / {len(val)} val images of "
                        f"{self.datasets}, levels {self.levels}, every {self.period} iterations")
        if self.trainer.start_iter == 0:
            self._probe(done=0)

    def after_step(self):
        done = self.trainer.iter + 1
        if done % self.period == 0 or done == self.trainer.max_iter:
            self._probe(done)

    def _probe(self, done):
        if comm.is_main_process():
            self._probe_main(done)
        comm.synchronize()

    def _probe_main(self, done):
        model = self._model()
        backbone = getattr(model, model.export_branch).backbone  # DenseCL heads: the student
        training = backbone.training
        t0 = time.perf_counter()
        backbone.eval()
        try:
            def forward(x, levels):
                out = backbone(x.to(model.device))
                return {lv: out[lv].cpu() for lv in levels}

            mean = model.pixel_mean.flatten().tolist()
            std = model.pixel_std.flatten().tolist()
            results = probe_features(forward, mean, std, *self._sets, self.levels, self.settings,
                                     label=f"after {done} iterations")
        finally:
            backbone.train(training)
        seconds = time.perf_counter() - t0
        storage = self.trainer.storage
        for lv, s in results.items():
            for key in ("mIoU", "mIoU_fg", "pixel_acc"):
                storage.put_scalar(f"probe/{lv}/{key}", s[key], smoothing_hint=False)
        storage.put_scalar("probe/seconds", seconds, smoothing_hint=False)
        # iterations the teacher has been trained for (0 for the probe before the first step)
        storage.put_scalar("probe/iterations_done", done, smoothing_hint=False)
        summary = ", ".join(f"{lv} mIoU {s['mIoU']:.2f} (fg {s['mIoU_fg']:.2f})"
                            for lv, s in results.items())
        logger.info(f"online probe after {done} iterations: {summary}; took {seconds:.1f} s")
        self._flush_writers()

    def _flush_writers(self):
        """Write metrics.json and TensorBoard now: Detectron2's writers keep only the latest value
        of a key between two writes, so a probe between writes (the one before the first step)
        would otherwise be lost. The console printer is left to its period."""
        for hook in self.trainer._hooks:  # Detectron2 offers no public accessor
            if isinstance(hook, PeriodicWriter):
                for writer in hook._writers:
                    if not isinstance(writer, CommonMetricPrinter):
                        writer.write()
