"""ToyHead's declaration: its config node ``MODEL.DECON.TOY``, the key only it reads and its
variant names (no catalogue rows: it ships no configs). Registered on import."""
from detectron2.config import CfgNode as CN

from decon_d2.head_specs import HeadSpec, register_head

__all__ = ["SPEC", "add_toy_config"]


def add_toy_config(cfg):
    """Declare ``MODEL.DECON.TOY.*`` with defaults, in place."""
    _C = cfg.MODEL.DECON.TOY = CN()
    # Output width of the 1x1-conv projector.
    _C.DIM = 16
    return cfg


SPEC = register_head(HeadSpec(
    name="ToyHead", node="TOY", add_config=add_toy_config, paper="Toy", encoder_only="toy",
    decoder_prefix="decon_toy_", own_keys=("MODEL.DECON.TOY.DIM",)))
