"""SlotCon as the rest of the library knows it (``decon_d2/head_specs.py``): its config node,
the keys only it reads, its variant names and catalogue rows. Registered on import."""
from decon_d2.head_specs import HeadSpec, register_head
from decon_d2.variants import catalogue_row

from .config import add_slotcon_config

__all__ = ["SPEC"]

_HEAD = "SlotConHead"
_P2_P5 = ("p2", "p3", "p4", "p5")

SPEC = register_head(HeadSpec(
    name=_HEAD,
    node="SLOTCON",
    add_config=add_slotcon_config,
    paper="SlotCon",
    encoder_only="slotcon",
    decoder_prefix="decon_",
    # speed and memory dials (DenseCL's head has its own DEC_PROJ_CHECKPOINT)
    own_keys=("MODEL.DECON.SLOTCON.DEC_PROJ_CHECKPOINT", "MODEL.DECON.SLOTCON.PROJ_IMPL",
              "MODEL.DECON.SLOTCON.PROJ_RECOMPUTE_NORM_ACT"),
    variants=(
        catalogue_row("slotcon", "SlotCon", _HEAD, "", (), "slotcon_pretrain.yaml",
                      "study/slotcon_study.yaml"),
        catalogue_row("decon_sl", "DeCon-SL", _HEAD, "FPN", ("p2",), "decon_sl_pretrain.yaml"),
        catalogue_row("decon_ml", "DeCon-ML", _HEAD, "FPN", _P2_P5, "decon_pretrain.yaml",
                      "study/decon_ml_study.yaml"),
        catalogue_row("decon_fcn", "DeCon-FCN", _HEAD, "FCN", ("fcn",),
                      "decon_fcn_pretrain.yaml"),
    ),
    slot_maps=True,
))
