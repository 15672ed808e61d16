"""``model_shapes(cfg)``: the names and shapes of the model a config builds, without its memory.

The converter takes them as the ground truth of a target model and fine-tuning's pre-flight fits
a converted file against them; both ask Detectron2's own builder (on the ``meta`` device, ~0.1 s)
instead of a hand list, so a Detectron2 upgrade that renames a module is caught, not guessed.
Importing this module registers this package's models (``decon_d2/modeling/__init__.py``), so
configs naming ``FCNHead`` or ``Res5ROIHeadsExtraNorm`` build too.
"""
import functools
from typing import Dict, Tuple

import torch

__all__ = ["model_shapes"]


@functools.lru_cache(maxsize=8)
def _shapes_from_dump(cfg_dump: str) -> Dict[str, Tuple[int, ...]]:
    from detectron2.config import CfgNode
    from detectron2.modeling import build_model

    cfg = CfgNode.load_cfg(cfg_dump)
    cfg.defrost()
    cfg.MODEL.DEVICE = "meta"
    cfg.MODEL.WEIGHTS = ""
    with torch.device("meta"):
        model = build_model(cfg)
    return {k: tuple(v.shape) for k, v in model.state_dict().items()}


def model_shapes(cfg) -> Dict[str, Tuple[int, ...]]:
    """Names and shapes of every state-dict entry of the model ``cfg`` builds (no memory used),
    in the model's order."""
    return dict(_shapes_from_dump(cfg.dump()))
