"""Checkpoint pieces: the ``decon_meta`` record and a checkpointer that writes atomically.

fvcore's ``Checkpointer.save`` writes ``model_XXXXXXX.pth`` in place and then rewrites
``last_checkpoint``; ``last_checkpoint`` is only updated after the file is complete, but a run
killed mid-write leaves a truncated ``.pth`` (and ``model_final.pth`` is overwritten in place).
``DeConCheckpointer`` writes both files to a temporary name and renames them (atomic on POSIX).
"""

import os

import torch
from detectron2.checkpoint import DetectionCheckpointer

from decon_d2.modeling.meta_arch import VARIANT_LEVELS


class DeConMeta:
    """``decon_meta`` (contracts.md): how the weights were made, for the converter's checks.

    A checkpointable: ``state_dict()`` describes the current run; ``load_state_dict`` keeps what
    a checkpoint recorded in ``self.loaded`` (a resumed run then records its own values again).
    """

    def __init__(self, cfg, iteration_fn=lambda: 0, decoder_levels=None):
        self.cfg = cfg
        self.decoder_levels = decoder_levels
        self.iteration_fn = iteration_fn
        self.loaded = None

    def state_dict(self):
        cfg = self.cfg
        variant = cfg.MODEL.DECON.VARIANT if "DECON" in cfg.MODEL else "encoder_only"
        return {
            "variant": variant,
            "input_format": cfg.INPUT.FORMAT,
            "pixel_mean": list(cfg.MODEL.PIXEL_MEAN),
            "pixel_std": list(cfg.MODEL.PIXEL_STD),
            "stride_in_1x1": bool(cfg.MODEL.RESNETS.STRIDE_IN_1X1),
            "norm": cfg.MODEL.RESNETS.NORM,
            "fpn_norm": cfg.MODEL.FPN.NORM,
            "decoder_levels": list(
                self.decoder_levels
                if self.decoder_levels is not None
                else VARIANT_LEVELS.get(variant, ())
            ),
            "iteration": int(self.iteration_fn()),
            # Beyond contracts.md (additive): the AMP mode affects downstream AP.
            "amp": cfg.SOLVER.AMP.PRECISION if cfg.SOLVER.AMP.ENABLED else "off",
        }

    def load_state_dict(self, state):
        self.loaded = dict(state)


class DeConCheckpointer(DetectionCheckpointer):
    """``DetectionCheckpointer`` whose ``save`` and ``last_checkpoint`` tag are atomic renames."""

    def save(self, name, **kwargs):
        if not self.save_dir or not self.save_to_disk:
            return
        data = {"model": self.model.state_dict()}
        for key, obj in self.checkpointables.items():
            data[key] = obj.state_dict()
        data.update(kwargs)
        basename = f"{name}.pth"
        save_file = os.path.join(self.save_dir, basename)
        self.logger.info(f"Saving checkpoint to {save_file}")
        tmp = save_file + ".tmp"
        with self.path_manager.open(tmp, "wb") as f:
            torch.save(data, f)
        os.replace(tmp, save_file)
        self.tag_last_checkpoint(basename)

    def tag_last_checkpoint(self, last_filename_basename):
        save_file = os.path.join(self.save_dir, "last_checkpoint")
        with self.path_manager.open(save_file + ".tmp", "w") as f:
            f.write(last_filename_basename)
        os.replace(save_file + ".tmp", save_file)
