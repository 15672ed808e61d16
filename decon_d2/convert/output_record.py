"""The converted file's record (``decon_d2.weights.ConvertedRecord``): where the weights come from
(variant, branch, layout, iteration), what was exported and the pre-training's input conventions,
so that fine-tuning can check its config against them before any work."""
import dataclasses
import re

from ..variants import variant_name
from ..weights import ConvertedRecord, PretrainRecord, decoder_kind, layout_conventions

__all__ = ["CONVERTER_VERSION", "infer_decoder", "source_variant", "output_record"]

# Bump when the output (keys, metadata) changes meaning.
CONVERTER_VERSION = "3"  # 2: segmentation targets (FCN head, --decoder); 3: the C4 target

#: decoder layout (decon_d2.variants.decoder_layout) -> the decoder keys that build it
_DECODER_KEYS = {"none": ("", ()), "sl": ("FPN", ("p2",)),
                 "ml": ("FPN", ("p2", "p3", "p4", "p5")), "fcn": ("FCN", ("fcn",))}


def infer_decoder(decoder_names) -> str:
    """The decoder layout the source keys hold: ``none``, ``sl``, ``ml`` or ``fcn``."""
    if not decoder_names:
        return "none"
    if any(decoder_kind(n) == "fcn" for n in decoder_names):
        return "fcn"  # the single-level FCN decoder (docs/method.md §1.3)
    outputs = {int(m.group(1)) for n in decoder_names
               if (m := re.match(r"backbone\.fpn_output(\d)", n))}
    return "ml" if outputs >= {3, 4, 5} else "sl"


def source_variant(layout: str, decoder_names, record: PretrainRecord, report) -> str:
    """The catalogue name of the source: the record's when it has one, else the keys' decoder
    with the head's family (SlotCon unless the record names another head); a warning when the
    record's decoder layout and the keys' disagree."""
    if layout == "torchvision":
        return "torchvision"
    decoder = infer_decoder(decoder_names)
    inferred = variant_name(record.ssl_head or "SlotConHead", *_DECODER_KEYS[decoder])
    if not record.variant:
        return inferred
    stated = record.decoder
    if layout == "ours" and stated is not None and stated != decoder:
        report.warnings.append(f"decon_meta says variant {record.variant!r} (decoder {stated}), "
                               f"the keys look like {inferred!r} (decoder {decoder})")
    return record.variant


def _conventions(layout: str, record: PretrainRecord, report):
    """Input conventions of the pre-training (what the fine-tune config must reproduce)."""
    if layout != "ours":
        return layout_conventions(layout)  # torchvision-layout ResNets: RGB, ImageNet, 3x3
    missing = record.missing_conventions
    if missing:
        report.warnings.append(
            f"checkpoint has no decon_meta entry for {missing}; assuming the project's "
            "conventions (RGB, ImageNet mean/std, STRIDE_IN_1X1 False, SyncBN)"
        )
    return record.conventions


def output_record(layout, decoder, out, record: PretrainRecord, epoch, report
                  ) -> ConvertedRecord:
    """The record of the output ``out`` (``{name: array}``); ``decoder``: the exported one."""
    outputs = sorted({int(m.group(1)) for k in out
                      if (m := re.match(r"backbone\.fpn_output(\d)", k))})
    return ConvertedRecord(
        **dataclasses.asdict(_conventions(layout, record, report)),
        fpn_out_channels=256 if decoder == "fpn" else None,
        # The pre-training FPN has no top block; Detectron2's LastLevelMaxPool (p6) has no weights.
        pretrain_top_block=None,
        variant=report.variant,
        exported=["encoder"] + ([decoder] if decoder else []),
        # geometry of the pre-training FCN decoder (docs/method.md §7.7); None when unknown
        fcn=record.fcn,
        fpn_outputs_pretrained=[f"p{s}" for s in outputs],
        branch=report.branch,
        source_layout=layout,
        iteration=record.iteration,
        epoch=epoch,
        pretrain_amp=record.amp,
        pretrain_ssl_head=record.ssl_head,
        converter="decon_d2.convert",
        converter_version=CONVERTER_VERSION,
        partial=False,
    )
