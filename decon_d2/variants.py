"""The variant catalogue: one name per pre-training variant, and the configs that run it.

Every table that maps a variant to something (the shipped configs, the benchmark's cases, the
tests' instant configs, the study, the docs) reads this one. The name is also what a checkpoint
records (``decon_meta`` ``variant``) and what the model reports (``model.variant``): it follows
from the loss head and the four explicit decoder keys (docs/method.md D1), never the other way
round.

The rows belong to the loss heads: each head's spec (``decon_d2/modeling/heads/<head>/spec.py``,
``decon_d2.head_specs``) declares its rows, its encoder-only name and the prefix of its decoder
variants, and ``VARIANTS`` reads them from the registered heads when asked (README.md lists
them). Other decoder levels (cost dials) get a derived label such as ``decon_fpn[p3,p4,p5]``.
``encoder_only`` (the name earlier checkpoints and tools used for ``slotcon``) is an alias.
"""
from typing import Iterator, Mapping, NamedTuple, Optional, Sequence, Tuple

from .head_specs import head_spec, head_specs

__all__ = ["Variant", "VARIANTS", "ALIASES", "get_variant", "variant_name", "decoder_layout",
           "catalogue_row"]


class Variant(NamedTuple):
    """One catalogue row; config paths are relative to ``configs/``."""

    name: str
    paper: str  # the method's name in the paper's tables
    head: str  # the loss head (``MODEL.DECON.HEAD.NAME``)
    decoder_type: str  # ``MODEL.DECON.DECODER_TYPE``
    decoder_levels: Tuple[str, ...]  # ``MODEL.DECON.DECODER_LEVELS``
    pretrain: str  # the paper recipe (COCO)
    demo: str  # the CPU demo twin (configs/demo/)
    instant_test: str  # the tiny ResNet-18 twin the tests and smoke runs use
    study: Optional[str] = None  # the CPU learning study's config, where it has one
    study_small: Optional[str] = None  # its ResNet-18 recipe (docs/learning.md)

    @property
    def decoder(self) -> str:
        """The decoder layout alone: ``none``, ``sl``, ``ml`` or ``fcn``."""
        return decoder_layout(self.decoder_type, self.decoder_levels)


def catalogue_row(name, paper, head, decoder_type, levels, pretrain, study=None) -> Variant:
    """A row whose demo, instant-test (and small study) configs follow the naming convention
    (``demo/<name>_demo.yaml``...); head specs declare their rows with it."""
    small = f"study/small/{name}_study_r18.yaml" if study else None
    return Variant(name, paper, head, decoder_type, tuple(levels), pretrain,
                   f"demo/{name}_demo.yaml", f"quick_schedules/{name}_instant_test.yaml", study,
                   small)


class _Catalogue(Mapping):
    """name -> row of every registered head, in the order tables list them; read at call time,
    so a head registered later (a new head's folder) is in it."""

    def _rows(self):
        return {row.name: row for spec in head_specs() for row in spec.variants}

    def __getitem__(self, name: str) -> Variant:
        return self._rows()[name]

    def __iter__(self) -> Iterator[str]:
        return iter(self._rows())

    def __len__(self) -> int:
        return len(self._rows())

    def __repr__(self) -> str:
        return f"VARIANTS({list(self)})"


#: name -> row, in the order tables list them
VARIANTS: Mapping[str, Variant] = _Catalogue()

_P2_P5 = ("p2", "p3", "p4", "p5")

#: older spellings still accepted on input (command lines, checkpoints written before the
#: catalogue): they name the same row
ALIASES = {"encoder_only": "slotcon"}


def get_variant(name: str) -> Variant:
    """The row of ``name`` (or an alias); an unknown name is an error listing the names."""
    row = VARIANTS.get(ALIASES.get(name, name))
    if row is None:
        raise KeyError(f"unknown variant {name!r}; the catalogue (decon_d2/variants.py: the "
                       f"heads' specs) has {list(VARIANTS)} (aliases: {ALIASES})")
    return row


def decoder_layout(decoder_type: str, levels: Sequence[str]) -> str:
    """``none`` (encoder only), ``sl`` (FPN p2), ``ml`` (FPN p2..p5), ``fcn``, else e.g.
    ``fpn[p3,p4,p5]``."""
    levels = tuple(levels)
    if not decoder_type:
        return "none"
    if decoder_type == "FCN":
        return "fcn"
    if levels == ("p2",):
        return "sl"
    if levels == _P2_P5:
        return "ml"
    return f"{decoder_type.lower()}[{','.join(levels)}]"


def variant_name(head: str, decoder_type: str, levels: Sequence[str]) -> str:
    """The catalogue name of a loss head with these decoder keys; a combination outside the
    catalogue (a cost dial) gets a derived label, e.g. ``decon_fpn[p3,p4,p5]``."""
    for row in VARIANTS.values():
        if (row.head, row.decoder_type, row.decoder_levels) == (head, decoder_type,
                                                               tuple(levels)):
            return row.name
    spec = head_spec(head)  # an unknown head is an error, not another head's name
    if not decoder_type and not tuple(levels):
        return spec.encoder_only
    return spec.decoder_prefix + decoder_layout(decoder_type, levels)
