"""The pre-training record of a run: what ``DeConMeta`` (``decon_d2/engine/checkpoint.py``)
writes into every checkpoint, computed from the config and the model's own report of itself.

Pure config arithmetic, so that the record does not depend on building a network.
"""
from typing import Any, Dict, Optional

from ..conventions import pretrain_conventions
from .record import PretrainRecord

__all__ = ["run_record", "fcn_record"]


def fcn_record(cfg) -> Optional[Dict[str, Any]]:
    """The pre-training FCN decoder's shape and geometry, as the record's ``fcn`` holds it
    (the converter and fine-tuning compare it with the fine-tuning head), or None without one."""
    if cfg.MODEL.DECON.DECODER_TYPE != "FCN":
        return None
    f = cfg.MODEL.DECON.FCN
    return {"channels": f.CONVS_DIM, "num_convs": f.NUM_CONVS, "dilation": f.DILATION,
            "norm": f.NORM, "in_feature": cfg.MODEL.DECON.ENCODER_IN_FEATURE,
            "stride": 32 // cfg.MODEL.RESNETS.RES5_DILATION}


def run_record(cfg, variant: str, decoder_levels, export_branch: str, iteration: int
               ) -> PretrainRecord:
    """The record of a pre-training run of ``cfg`` at ``iteration``; ``variant``,
    ``decoder_levels`` and ``export_branch`` are what the model reports (``model.variant``...)."""
    conv = pretrain_conventions(cfg)
    return PretrainRecord(
        variant=variant,
        input_format=conv.input_format,
        pixel_mean=list(conv.pixel_mean),
        pixel_std=list(conv.pixel_std),
        stride_in_1x1=conv.stride_in_1x1,
        norm=conv.norm,
        fpn_norm=conv.fpn_norm,
        decoder_levels=list(decoder_levels),
        iteration=int(iteration),
        # the loss head (SlotCon / DenseCL) and the branch the converter exports by default
        ssl_head=cfg.MODEL.DECON.HEAD.NAME,
        export_branch=export_branch,
        # beyond contracts.md (additive): the AMP mode affects downstream AP
        amp=cfg.SOLVER.AMP.PRECISION if cfg.SOLVER.AMP.ENABLED else "off",
        decoder_type=cfg.MODEL.DECON.DECODER_TYPE,
        fcn=fcn_record(cfg),
        global_batch=int(cfg.SOLVER.IMS_PER_BATCH),
        max_iter=int(cfg.SOLVER.MAX_ITER),
        crop_size=int(cfg.INPUT.DECON.CROP_SIZE),
        seed=int(cfg.SEED),
    )
