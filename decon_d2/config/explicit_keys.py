"""Keys the user set (their value differs from the default) that an engine would otherwise
override or ignore without a word.

"Explicit" means "differs from ``get_cfg()`` + ``add_decon_config``": the config files and the
command line are merged before anything can tell them apart, and a value equal to the default
changes nothing anyway. Pre-training honours an explicit ``SOLVER.MAX_ITER`` /
``SOLVER.WARMUP_ITERS`` over the epoch arithmetic (``pretrain_trainer.derive_schedule``) and warns
about the Detectron2 keys its recipe does not read; fine-tuning warns about the pre-training
keys (``*.DECON.*``) it does not read. The keys only one loss head reads are that head's
(``HeadSpec.own_keys``, ``decon_d2/head_specs.py``): any other head's are named when set.
"""
import functools
from typing import List

from detectron2.config import CfgNode, get_cfg

from ..head_specs import head_spec, head_specs
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


def defaults() -> CfgNode:
    """The default config of the heads registered now (a head registered later adds a node)."""
    return _defaults(head_specs())


@functools.lru_cache(maxsize=4)
def _defaults(specs) -> CfgNode:
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


def other_heads_keys(head: str) -> List[str]:
    """The keys only the *other* registered heads read (``HeadSpec.own_keys``, e.g. a memory
    dial of each head: setting the wrong one would silently change nothing)."""
    head_spec(head)  # an unknown head is an error naming the known ones
    return [k for spec in head_specs() if spec.name != head for k in spec.own_keys]


def ignored_in_pretraining(cfg) -> List[str]:
    """One warning per explicit key the pre-training recipe does not read."""
    out = [f"{k} is set to {value(cfg, k)!r} but pre-training ignores it: {why}"
           for k, why in PRETRAIN_IGNORES.items() if is_explicit(cfg, k)]
    head = cfg.MODEL.DECON.HEAD.NAME
    out += [f"{k} is set to {value(cfg, k)!r} but the loss head is {head} (MODEL.DECON.HEAD.NAME), "
            f"which does not read it" for k in other_heads_keys(head) if is_explicit(cfg, k)]
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
