"""Keys the user set (their value differs from the default) that an engine would otherwise
override or ignore without a word.

"Explicit" means "differs from ``get_cfg()`` + ``add_decon_config``": the config files and the
command line are merged before anything can tell them apart, and a value equal to the default
changes nothing anyway. Pre-training honours an explicit ``SOLVER.MAX_ITER`` /
``SOLVER.WARMUP_ITERS`` over the epoch arithmetic (``pretrain_trainer.derive_schedule``) and warns
about the Detectron2 keys its recipe does not read; fine-tuning warns about the pre-training
keys (``*.DECON.*``) it does not read.
"""
import functools
from typing import List

from detectron2.config import CfgNode, get_cfg

from .keys import add_decon_config

_SCHEDULE = "the lr follows a linear warm-up and a cosine (SOLVER.DECON.*, docs/engine.md)"
_VIEWS = "the two views are INPUT.DECON.CROP_SIZE squares cropped by INPUT.DECON.MIN/MAX_SCALE"
#: Detectron2 keys the pre-training recipe does not read, and why
PRETRAIN_IGNORES = {
    "SOLVER.STEPS": _SCHEDULE,
    "SOLVER.GAMMA": _SCHEDULE,
    "SOLVER.LR_SCHEDULER_NAME": _SCHEDULE,
    "SOLVER.WARMUP_METHOD": "the warm-up is linear",
    "SOLVER.WEIGHT_DECAY_NORM": "norm weights and all biases never get weight decay (SlotCon)",
    "SOLVER.WEIGHT_DECAY_BIAS": "norm weights and all biases never get weight decay (SlotCon)",
    "SOLVER.BIAS_LR_FACTOR": "every parameter gets the same lr",
    "SOLVER.CLIP_GRADIENTS.ENABLED": "pre-training does not clip gradients",
    "INPUT.MIN_SIZE_TRAIN": _VIEWS,
    "INPUT.MAX_SIZE_TRAIN": _VIEWS,
    "INPUT.CROP.ENABLED": _VIEWS,
}
#: pre-training-only nodes that fine-tuning does not read
FINETUNE_IGNORES = ("MODEL.DECON", "SOLVER.DECON", "INPUT.DECON")


@functools.lru_cache(maxsize=1)
def defaults() -> CfgNode:
    cfg = add_decon_config(get_cfg())
    cfg.freeze()
    return cfg


def value(cfg, dotted: str):
    for part in dotted.split("."):
        cfg = cfg[part]
    return tuple(cfg) if isinstance(cfg, list) else cfg


def is_explicit(cfg, dotted: str) -> bool:
    """Whether ``cfg``'s value of ``dotted`` differs from the default."""
    return value(cfg, dotted) != value(defaults(), dotted)


def _leaves(node, prefix: str):
    for k, v in node.items():
        yield from (_leaves(v, f"{prefix}.{k}") if isinstance(v, CfgNode) else [f"{prefix}.{k}"])


#: speed and memory keys of one loss head that the other does not read (both have a
#: DEC_PROJ_CHECKPOINT: setting the wrong one would silently change nothing)
HEAD_ONLY_KEYS = {
    "SlotConHead": ("MODEL.DECON.SLOTCON.DEC_PROJ_CHECKPOINT", "MODEL.DECON.SLOTCON.PROJ_IMPL",
                    "MODEL.DECON.SLOTCON.PROJ_RECOMPUTE_NORM_ACT"),
    "DenseCLHead": ("MODEL.DECON.DENSECL.DEC_PROJ_CHECKPOINT",
                    "MODEL.DECON.DENSECL.LOSS_CHUNK_ROWS"),
}


def ignored_in_pretraining(cfg) -> List[str]:
    """One warning per explicit key the pre-training recipe does not read."""
    out = [f"{k} is set to {value(cfg, k)!r} but pre-training ignores it: {why}"
           for k, why in PRETRAIN_IGNORES.items() if is_explicit(cfg, k)]
    head = cfg.MODEL.DECON.HEAD.NAME
    other = HEAD_ONLY_KEYS.get("DenseCLHead" if head != "DenseCLHead" else "SlotConHead", ())
    out += [f"{k} is set to {value(cfg, k)!r} but the loss head is {head} (MODEL.DECON.HEAD.NAME), "
            f"which does not read it" for k in other if is_explicit(cfg, k)]
    if cfg.SOLVER.DECON.OPTIMIZER != "SGD" and is_explicit(cfg, "SOLVER.NESTEROV"):
        out.append(f"SOLVER.NESTEROV is set but SOLVER.DECON.OPTIMIZER is "
                   f"{cfg.SOLVER.DECON.OPTIMIZER!r}: only SGD reads it")
    return out


def ignored_in_finetuning(cfg) -> List[str]:
    """One warning per explicit pre-training key in a fine-tuning config."""
    keys = [k for node in FINETUNE_IGNORES for k in _leaves(value(cfg, node), node)
            if is_explicit(cfg, k)]
    return [f"{k} is set to {value(cfg, k)!r} but fine-tuning ignores it (a pre-training key)"
            for k in keys]
