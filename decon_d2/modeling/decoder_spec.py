"""The decoder keys of a DeCon config, validated.

Configs state a variant through explicit keys (``MODEL.DECON.DECODER_TYPE``, ``DECODER_LEVELS``,
``ENCODER_LOSS_WEIGHT``, ``SKIP_CHANNEL_DROPOUT``); the variant's name follows from them and the
loss head (``decon_d2/variants.py``, the catalogue), never the other way round. The values the
named variants use:

=============  ============  ====================  =====  ===================
decoder        DECODER_TYPE  DECODER_LEVELS        alpha  SKIP_CHANNEL_DROPOUT
=============  ============  ====================  =====  ===================
none           ""            []                    1.0    0.0
sl             "FPN"         [p2]                  0.5    0.0
ml             "FPN"         [p2, p3, p4, p5]      0.5    0.5
fcn            "FCN"         [fcn]                 0.5    0.0
=============  ============  ====================  =====  ===================
"""
from typing import NamedTuple, Tuple

__all__ = ["FPN_LEVELS", "FCN_LEVELS", "DecoderSpec", "decoder_spec"]

#: the FPN outputs a decoder loss can read, finest first
FPN_LEVELS = ("p2", "p3", "p4", "p5")
#: the FCN decoder's single output (``modeling/fcn.py``)
FCN_LEVELS = ("fcn",)
#: decoder type -> the levels it can put a loss on
_LEVELS = {"FPN": FPN_LEVELS, "FCN": FCN_LEVELS}
_DECODER_TYPES = ("",) + tuple(_LEVELS)


class DecoderSpec(NamedTuple):
    """What ``MODEL.DECON``'s decoder keys ask for, checked."""

    decoder_type: str
    levels: Tuple[str, ...]
    encoder_loss_weight: float
    skip_dropout: float


def decoder_spec(d) -> DecoderSpec:
    """Check the ``cfg.MODEL.DECON`` node ``d``; errors name the key and the fix."""
    kind, levels = d.DECODER_TYPE, list(d.DECODER_LEVELS)
    a, p = float(d.ENCODER_LOSS_WEIGHT), float(d.SKIP_CHANNEL_DROPOUT)
    if kind not in _DECODER_TYPES:
        raise ValueError(f"MODEL.DECON.DECODER_TYPE must be one of {list(_DECODER_TYPES)}, "
                         f"got {kind!r}")
    if not kind:
        wrong = [f"{k} is {v!r} (set {fix})" for k, v, ok, fix in (
            ("MODEL.DECON.DECODER_LEVELS", levels, not levels, "[]"),
            ("MODEL.DECON.ENCODER_LOSS_WEIGHT", a, a == 1.0, "1.0"),
            ("MODEL.DECON.SKIP_CHANNEL_DROPOUT", p, p == 0.0, "0.0")) if not ok]
        if wrong:
            raise ValueError('MODEL.DECON.DECODER_TYPE is "" (no decoder, encoder-only) but '
                             + "; ".join(wrong))
        return DecoderSpec("", (), 1.0, 0.0)
    allowed = _LEVELS[kind]
    if not levels or len(set(levels)) != len(levels) or not set(levels) <= set(allowed):
        raise ValueError(f"MODEL.DECON.DECODER_LEVELS must be distinct levels of "
                         f"{list(allowed)} (at least one) with DECODER_TYPE {kind!r}, "
                         f"got {levels}")
    if not 0.0 <= a < 1.0:
        raise ValueError(f"MODEL.DECON.ENCODER_LOSS_WEIGHT must be in [0, 1) with a decoder, "
                         f"got {a}; for a = 1 set DECODER_TYPE \"\" (encoder-only).")
    if not 0.0 <= p < 1.0:
        raise ValueError(f"MODEL.DECON.SKIP_CHANNEL_DROPOUT must be in [0, 1), got {p}")
    if kind == "FCN" and p != 0.0:
        raise ValueError(f"MODEL.DECON.SKIP_CHANNEL_DROPOUT is {p} but the FCN decoder has no "
                         "skip branches: set 0.0")
    return DecoderSpec(kind, tuple(f for f in allowed if f in levels), a, p)
