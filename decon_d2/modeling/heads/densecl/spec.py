"""DenseCL as the rest of the library knows it (``decon_d2/head_specs.py``): its config node,
the keys only it reads, its variant names and catalogue rows. Registered on import."""
from decon_d2.head_specs import HeadSpec, register_head
from decon_d2.variants import catalogue_row

from .config import add_densecl_config

__all__ = ["SPEC"]

_HEAD = "DenseCLHead"

SPEC = register_head(HeadSpec(
    name=_HEAD,
    node="DENSECL",
    add_config=add_densecl_config,
    paper="DenseCL",
    encoder_only="densecl",
    decoder_prefix="decon_densecl_",
    # memory dials (SlotCon's head has its own DEC_PROJ_CHECKPOINT)
    own_keys=("MODEL.DECON.DENSECL.DEC_PROJ_CHECKPOINT", "MODEL.DECON.DENSECL.LOSS_CHUNK_ROWS"),
    variants=(
        catalogue_row("densecl", "DenseCL", _HEAD, "", (), "densecl_pretrain.yaml"),
        catalogue_row("decon_densecl_sl", "DeCon-SL (DenseCL)", _HEAD, "FPN", ("p2",),
                      "decon_densecl_sl_pretrain.yaml"),
        catalogue_row("decon_densecl_ml", "DeCon-ML (DenseCL)", _HEAD, "FPN",
                      ("p2", "p3", "p4", "p5"), "decon_densecl_ml_pretrain.yaml"),
    ),
))
