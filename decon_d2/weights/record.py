"""The ``decon_meta`` record as typed objects: what a pre-training checkpoint says about how its
weights were made (:class:`PretrainRecord`), and what a converted ``.pkl`` says about them
(:class:`ConvertedRecord`); docs/contracts.md lists the fields.

This is the only place that reads or writes the record's keys. Reading (``from_dict``) is
lenient, because files outlive the code that wrote them: a missing key takes the documented
default (and is listed in ``missing``, so that a caller can say it assumed one), an unknown key is
kept in ``extra`` and written back by ``to_dict``, so a round trip loses nothing. The variant is
a catalogue name (``decon_d2/variants.py``): the alias ``encoder_only`` that earlier checkpoints
wrote is read as the recorded head's encoder-only variant (``slotcon``, ``densecl``; the head's
spec, ``decon_d2/head_specs.py``).
"""
import copy
import dataclasses
from typing import Any, ClassVar, Dict, List, Mapping, Optional, Tuple

from ..conventions import IMAGENET_PIXEL_MEAN, IMAGENET_PIXEL_STD, Conventions
from ..head_specs import head_spec
from ..variants import ALIASES, VARIANTS, decoder_layout, get_variant

__all__ = ["PretrainRecord", "ConvertedRecord", "catalogue_variant"]


def catalogue_variant(name: Optional[str], ssl_head: Optional[str]) -> Optional[str]:
    """``name`` as the catalogue spells it: ``encoder_only`` -> the recorded head's encoder-only
    variant (``HeadSpec.encoder_only``: ``slotcon``, ``densecl``), ``slotcon`` when no head is
    recorded (files older than the heads); other names (catalogue rows, derived labels,
    ``torchvision``) unchanged. A recorded head that is not registered is an error."""
    if name == "encoder_only" and ssl_head is not None:
        return head_spec(ssl_head).encoder_only
    return ALIASES.get(name, name) if name is not None else None


class _Record:
    """Shared reading and writing; subclasses are dataclasses whose fields are the keys, in the
    order files write them, plus ``extra`` (unknown keys) and ``missing`` (keys the file lacked)."""

    #: fields written only when set (None: the key is left out of the file)
    _OPTIONAL: ClassVar[Tuple[str, ...]] = ()
    #: the field holding the loss head, for the ``encoder_only`` alias
    _HEAD_FIELD: ClassVar[str] = "ssl_head"

    @classmethod
    def _keys(cls) -> List[str]:
        return [f.name for f in dataclasses.fields(cls) if f.name not in ("extra", "missing")]

    @classmethod
    def from_dict(cls, data: Optional[Mapping[str, Any]]):
        """The record of a file's ``decon_meta`` dict (None or {}: every field at its default)."""
        data = dict(data or {})
        keys = cls._keys()
        values = {k: data[k] for k in keys if k in data}
        for k in ("pixel_mean", "pixel_std", "decoder_levels", "exported",
                  "fpn_outputs_pretrained"):
            if isinstance(values.get(k), tuple):
                values[k] = list(values[k])
        if "variant" in values:
            values["variant"] = catalogue_variant(values["variant"], values.get(cls._HEAD_FIELD))
        missing = tuple(k for k in keys if k not in data and k not in cls._OPTIONAL)
        extra = {k: v for k, v in data.items() if k not in keys}
        return cls(**values, extra=extra, missing=missing)

    def to_dict(self) -> Dict[str, Any]:
        """The ``decon_meta`` dict a file stores (unknown keys read from a file kept, last)."""
        out = {}
        for k in self._keys():
            value = getattr(self, k)
            if k in self._OPTIONAL and value is None:
                continue
            out[k] = list(value) if isinstance(value, tuple) else value
        out.update(self.extra)
        return copy.deepcopy(out)  # the caller may change it; the record stays as it is

    @property
    def missing_conventions(self) -> List[str]:
        """The convention fields the file lacked (they hold the project's defaults)."""
        names = [f.name for f in dataclasses.fields(Conventions)]
        return [k for k in names if k in self.missing]

    @property
    def conventions(self) -> Conventions:
        """The input and norm conventions of the pre-trained ResNet."""
        mean, std = self.pixel_mean, self.pixel_std
        return Conventions(self.input_format or "RGB", None if mean is None else list(mean),
                           None if std is None else list(std), bool(self.stride_in_1x1),
                           self.norm, self.fpn_norm)


@dataclasses.dataclass
class PretrainRecord(_Record):
    """``decon_meta`` of a decon-d2 pre-training checkpoint (``DeConMeta`` in
    ``decon_d2/engine/checkpoint.py`` writes it; ``run_record.py`` builds it from a run).
    Defaults of an older file: the project's conventions, None for the rest."""

    variant: Optional[str] = None  # catalogue name or derived label (decon_d2/variants.py)
    input_format: str = "RGB"
    pixel_mean: List[float] = dataclasses.field(default_factory=lambda: list(IMAGENET_PIXEL_MEAN))
    pixel_std: List[float] = dataclasses.field(default_factory=lambda: list(IMAGENET_PIXEL_STD))
    stride_in_1x1: bool = False
    norm: Optional[str] = "SyncBN"  # the configured name, not one process's BN fallback
    fpn_norm: Optional[str] = "SyncBN"
    decoder_levels: Optional[List[str]] = None
    iteration: Optional[int] = None
    ssl_head: Optional[str] = None  # MODEL.DECON.HEAD.NAME: SlotConHead, DenseCLHead...
    export_branch: Optional[str] = None  # the branch the converter exports by default
    amp: Optional[str] = None  # "off", "fp16", "bf16"
    decoder_type: Optional[str] = None  # "", "FPN", "FCN"
    fcn: Optional[Dict[str, Any]] = None  # the FCN decoder's geometry (run_record.fcn_record)
    # the recipe, compared on resume (decon_d2/engine/resume.py)
    global_batch: Optional[int] = None  # SOLVER.IMS_PER_BATCH
    max_iter: Optional[int] = None  # SOLVER.MAX_ITER as the run derived it
    crop_size: Optional[int] = None  # INPUT.DECON.CROP_SIZE
    seed: Optional[int] = None  # SEED
    extra: Dict[str, Any] = dataclasses.field(default_factory=dict)
    missing: Tuple[str, ...] = dataclasses.field(default=(), compare=False)

    @property
    def branch(self) -> str:
        """The branch to export or start from when nobody chose one (teacher by default)."""
        return self.export_branch or "teacher"

    @property
    def decoder(self) -> Optional[str]:
        """The decoder layout the record states (``none``, ``sl``, ``ml``, ``fcn``,
        ``fpn[...]``; ``decon_d2.variants.decoder_layout``), None when it states none."""
        if self.decoder_type is not None and self.decoder_levels is not None:
            return decoder_layout(self.decoder_type, self.decoder_levels)
        if self.variant in VARIANTS or self.variant in ALIASES:
            return get_variant(self.variant).decoder
        return None


@dataclasses.dataclass
class ConvertedRecord(_Record):
    """``decon_meta`` of a ``.pkl`` written by ``decon_d2.convert``: the pre-training
    conventions the fine-tune config must keep, what was exported, and where it came from.
    ``source_file``/``source_sha256`` are written by the CLI only (left out when None)."""

    _OPTIONAL: ClassVar[Tuple[str, ...]] = ("source_file", "source_sha256")
    _HEAD_FIELD: ClassVar[str] = "pretrain_ssl_head"

    input_format: str = "RGB"
    pixel_mean: List[float] = dataclasses.field(default_factory=lambda: list(IMAGENET_PIXEL_MEAN))
    pixel_std: List[float] = dataclasses.field(default_factory=lambda: list(IMAGENET_PIXEL_STD))
    stride_in_1x1: bool = False
    norm: Optional[str] = "SyncBN"
    fpn_norm: Optional[str] = "SyncBN"
    fpn_out_channels: Optional[int] = None  # 256 when the FPN is exported
    pretrain_top_block: Optional[str] = None  # the pre-training FPN has no top block
    variant: Optional[str] = None  # catalogue name; "torchvision" for a torchvision ResNet
    exported: List[str] = dataclasses.field(default_factory=lambda: ["encoder"])
    fcn: Optional[Dict[str, Any]] = None
    fpn_outputs_pretrained: List[str] = dataclasses.field(default_factory=list)
    branch: Optional[str] = None
    source_layout: Optional[str] = None  # ours, authors, torchvision
    iteration: Optional[int] = None
    epoch: Optional[int] = None
    pretrain_amp: Optional[str] = None
    pretrain_ssl_head: Optional[str] = None
    converter: Optional[str] = None
    converter_version: Optional[str] = None
    partial: bool = False
    source_file: Optional[str] = None
    source_sha256: Optional[str] = None
    extra: Dict[str, Any] = dataclasses.field(default_factory=dict)
    missing: Tuple[str, ...] = dataclasses.field(default=(), compare=False)

    @property
    def exports_fpn(self) -> bool:
        return "fpn" in self.exported
