"""The loss-head catalogue: what each self-supervised loss head declares about itself.

DeCon adapts any dense contrastive framework, so nothing outside a head's folder
(``decon_d2/modeling/heads/<head>/``) may switch on "SlotCon or DenseCL": a switch with two arms
gives a third head a wrong answer without an error. Instead each head folder registers one
:class:`HeadSpec` here when it is imported (``import decon_d2`` imports them all), and the
config keys (``add_decon_config``), the keys only one head reads (``config/explicit_keys.py``),
the variant catalogue (``variants.py``), the record's ``encoder_only`` alias
(``weights/record.py``) and the engine look the head up at call time. An unknown head is an
error that names the registered ones, never a default.

The lowest layer of the library (it imports nothing from it), so every package may read it.
"""
import dataclasses
from typing import Callable, Dict, Tuple

__all__ = ["HeadSpec", "register_head", "unregister_head", "head_spec", "head_specs"]


@dataclasses.dataclass(frozen=True)
class HeadSpec:
    """One loss head, as the rest of the library needs to know it."""

    name: str  # its SSL_HEAD_REGISTRY name (the class name): MODEL.DECON.HEAD.NAME
    node: str  # its config node, MODEL.DECON.<node>
    add_config: Callable  # add_config(cfg) declares MODEL.DECON.<node> with its defaults
    paper: str  # its name in tables and logs, e.g. "DenseCL"
    encoder_only: str  # the variant name without a decoder, e.g. "densecl"
    decoder_prefix: str  # the start of its decoder variants' names, e.g. "decon_densecl_"
    #: keys only this head reads: setting one while another head trains changes nothing, so
    #: pre-training names them in a warning (``config/explicit_keys.ignored_in_pretraining``)
    own_keys: Tuple[str, ...] = ()
    #: its rows of the variant catalogue (``decon_d2.variants.Variant``), in table order
    variants: Tuple = ()
    #: prototype assignments that TEST.DECON.VIS_PERIOD can draw (slot maps)
    slot_maps: bool = False


_SPECS: Dict[str, HeadSpec] = {}  # name -> spec, in registration order


def _clashes(spec: HeadSpec):
    """Names another registered head already uses (variant names and config nodes are shared
    namespaces: a clash would make two heads' checkpoints or keys indistinguishable)."""
    mine = {spec.node, spec.encoder_only, spec.decoder_prefix, *(r.name for r in spec.variants)}
    for other in _SPECS.values():
        if other.name != spec.name:
            theirs = {other.node, other.encoder_only, other.decoder_prefix,
                      *(r.name for r in other.variants)}
            yield from ((other.name, n) for n in sorted(mine & theirs))


def register_head(spec: HeadSpec) -> HeadSpec:
    """Add ``spec`` to the catalogue; registering the same spec again is a no-op (a module
    imported twice), a different spec under a registered name or a clashing name an error."""
    known = _SPECS.get(spec.name)
    if known is not None and known != spec:
        raise ValueError(f"loss head {spec.name!r} is already registered with another spec")
    for other, name in _clashes(spec):
        raise ValueError(f"loss head {spec.name!r} declares {name!r}, which {other} uses")
    rows = [r.name for r in spec.variants if r.head != spec.name]
    if rows:
        raise ValueError(f"loss head {spec.name!r} declares rows of another head: {rows}")
    _SPECS[spec.name] = spec
    return spec


def unregister_head(name: str) -> HeadSpec:
    """Remove a head (tests that register a head of their own undo it with this)."""
    return _SPECS.pop(name)


def head_spec(name: str) -> HeadSpec:
    """The spec of the head called ``name``; an unknown name is an error naming the known."""
    spec = _SPECS.get(name)
    if spec is None:
        raise KeyError(f"unknown loss head {name!r} (MODEL.DECON.HEAD.NAME); the registered "
                       f"heads are {list(_SPECS)}. A head registers its HeadSpec when its folder "
                       f"under decon_d2/modeling/heads/ is imported (import decon_d2).")
    return spec


def head_specs() -> Tuple[HeadSpec, ...]:
    """Every registered head, in registration order (the variant tables' order)."""
    return tuple(_SPECS.values())
