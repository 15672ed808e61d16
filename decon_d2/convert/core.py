"""``convert_to_d2``: a pre-training state dict in, the state dict of a Detectron2 target (Mask
R-CNN R50-FPN, Faster R-CNN R50-C4, segmentation models) and a :class:`ConversionReport` out.

What is exported (docs/method.md §4.2, D5): the **teacher** encoder, plus the teacher
FPN when the checkpoint has one (DeCon-SL/-ML), as SlotCon and the DeCon authors do; the EMA
teacher is the better network (DINO's published backbone is its teacher too). ``branch="student"``
exports the student instead (MoCo/DenseCL convention); by default (``branch=None``) the branch
is the one the checkpoint's record names (``PretrainRecord.export_branch``; DenseCL heads: the
student), else the teacher. ``include_decoder=False`` exports the encoder only (SlotCon-style
transfer, and the decoder ablation).

Every source key ends up converted, dropped with a reason, or is an error; every target key is
provided or listed as left for fine-tuning. Anything that would make Detectron2 silently start
from random weights is an error (a silently random backbone costs a whole fine-tuning run
before anyone notices):
zero matches, a missing encoder key, a missing FPN lateral or p2 output conv when the decoder is
exported, a shape mismatch, an unknown key, or a branch the checkpoint does not hold.
``allow_partial=True`` turns the errors into a report marked ``partial``.
"""
import dataclasses
import re
from typing import Any, Dict, Mapping, Optional, Tuple, Union

import numpy as np
import torch

from ..variants import variant_name
from ..weights import ConvertedRecord, PretrainRecord, layout_conventions
from . import rules
from .c4_target import FPN_DROP_REASON as C4_FPN_DROP
from .formats import ConversionError, classify, detect_layout
from .report import ConversionReport

__all__ = ["convert_to_d2", "CONVERTER_VERSION"]

# Bump when the output (keys, metadata) changes meaning.
CONVERTER_VERSION = "3"  # 2: segmentation targets (FCN head, --decoder); 3: the C4 target

_MAX_LISTED = 8


def _listing(keys) -> str:
    keys = sorted(keys)
    more = f" ... (+{len(keys) - _MAX_LISTED} more)" if len(keys) > _MAX_LISTED else ""
    return ", ".join(keys[:_MAX_LISTED]) + more


def _to_numpy(t: torch.Tensor) -> np.ndarray:
    t = t.detach().cpu()
    if t.dtype in (torch.float16, torch.bfloat16):
        t = t.float()
    return t.numpy().copy()


_DECODER_NAMES = {"fpn": "FPN", "fcn": "FCN head"}


#: decoder layout (decon_d2.variants.decoder_layout) -> the decoder keys that build it
_DECODER_KEYS = {"none": ("", ()), "sl": ("FPN", ("p2",)),
                 "ml": ("FPN", ("p2", "p3", "p4", "p5")), "fcn": ("FCN", ("fcn",))}


def _infer_decoder(decoder_names) -> str:
    """The decoder layout the source keys hold: ``none``, ``sl``, ``ml`` or ``fcn``."""
    if not decoder_names:
        return "none"
    if any(rules.decoder_kind(n) == "fcn" for n in decoder_names):
        return "fcn"  # the single-level FCN decoder (docs/method.md §1.3)
    outputs = {int(m.group(1)) for n in decoder_names
               if (m := re.match(r"backbone\.fpn_output(\d)", n))}
    return "ml" if outputs >= {3, 4, 5} else "sl"


def _variant(layout: str, decoder_names, record: PretrainRecord, report: ConversionReport) -> str:
    """The catalogue name of the source: the record's when it has one, else the keys' decoder
    with the head's family (SlotCon unless the record names another head); a warning when the
    record's decoder layout and the keys' disagree."""
    if layout == "torchvision":
        return "torchvision"
    decoder = _infer_decoder(decoder_names)
    inferred = variant_name(record.ssl_head or "SlotConHead", *_DECODER_KEYS[decoder])
    if not record.variant:
        return inferred
    stated = record.decoder
    if layout == "ours" and stated is not None and stated != decoder:
        report.warnings.append(f"decon_meta says variant {record.variant!r} (decoder {stated}), "
                               f"the keys look like {inferred!r} (decoder {decoder})")
    return record.variant


def _conventions(layout: str, record: PretrainRecord, report: ConversionReport):
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


def convert_to_d2(
    state_dict: Mapping[str, torch.Tensor],
    *,
    branch: Optional[str] = None,
    include_decoder: Optional[bool] = None,
    allow_partial: bool = False,
    target: Optional[Mapping[str, Tuple[int, ...]]] = None,
    meta: Union[PretrainRecord, Mapping[str, Any], None] = None,
    epoch: Optional[int] = None,
) -> Tuple[Dict[str, np.ndarray], ConversionReport]:
    """Convert a pre-training state dict into Mask R-CNN R50-FPN names.

    Args:
        state_dict: our DeCon model state dict, the authors'/SlotCon ``model`` dict, or a
            torchvision ResNet-50 state dict (a DDP ``module.`` prefix is accepted).
        branch: "teacher" or "student"; None = the record's ``export_branch`` or "teacher".
            Ignored for torchvision state dicts.
        include_decoder: export the FPN too; None = whenever the checkpoint has one.
        allow_partial: return what converted instead of raising on errors.
        target: ``{name: shape}`` of the target model; default: the Mask R-CNN R50-FPN of
            :func:`rules.default_finetune_cfg`.
        meta: the checkpoint's record (``decon_d2.weights.PretrainRecord``, or its
            ``decon_meta`` dict), carried into the output record.
        epoch: the source's epoch (the authors' files), carried into the output record.

    Returns:
        ``({Detectron2 name: numpy array}, report)``.

    Raises:
        ConversionError: on any error listed in the module docstring, unless ``allow_partial``.
    """
    record = meta if isinstance(meta, PretrainRecord) else PretrainRecord.from_dict(meta)
    if branch is None:
        branch = record.branch
    if branch not in ("teacher", "student"):
        raise ValueError(f"branch must be 'teacher' or 'student', got {branch!r}")
    if target is None:
        target = rules.target_shapes(rules.default_finetune_cfg())
    layout, sd = detect_layout(state_dict)
    report = ConversionReport(layout=layout, branch=None if layout == "torchvision" else branch)
    if layout is None:
        report.errors.append(
            "zero matches: no key looks like a decon-d2 checkpoint (teacher.backbone.*), the "
            "authors'/SlotCon layout (module.encoder_k.*) or a torchvision ResNet (layer1.*); "
            f"first keys: {_listing(list(sd)[:_MAX_LISTED])}"
        )
        raise ConversionError(report.errors[0], report)

    place = rules.encoder_placement(target)  # res5 -> roi_heads.res5. in a C4 target
    encoder: Dict[str, str] = {}  # d2 name -> source key
    decoder: Dict[str, str] = {}
    unknown, other_branch = [], []
    for key in sd:
        action = classify(layout, key, branch)
        if action.kind == "encoder":
            encoder[place(action.name)] = key
        elif action.kind == "decoder":
            decoder[action.name] = key
        elif action.kind == "other_branch":
            other_branch.append(key)
            report.add_dropped(f"other branch ({action.name}); exporting the {branch}", key)
        elif action.kind == "drop":
            report.add_dropped(action.name, key)
        else:
            unknown.append(key)

    kind = next((rules.decoder_kind(n) for n in decoder), None)
    in_target = kind is not None and any(rules.decoder_kind(k) == kind for k in target)
    drop_reason = f"{_DECODER_NAMES.get(kind)} decoder not exported (encoder only)"
    if include_decoder is None:  # --decoder auto: the decoder goes where the target has one
        include_decoder = in_target
        if kind and not in_target:
            drop_reason = C4_FPN_DROP if rules.has_c4_head(target) else (
                f"{_DECODER_NAMES[kind]} decoder not exported: the target model has none "
                "(heterogeneous transfer: its decoder starts from scratch)")
    report.include_decoder = bool(include_decoder)
    report.decoder = kind if include_decoder else None
    report.variant = _variant(layout, decoder, record, report)
    if include_decoder and not decoder:
        report.errors.append(f"decoder requested but the checkpoint has no {branch} FPN keys "
                             "(nor FCN ones): use --decoder none")
    elif include_decoder and not in_target:
        report.errors.append(f"the {_DECODER_NAMES[kind]} decoder was requested but the target "
                             "model has none: --decoder none transfers the encoder alone")
    if not include_decoder:
        for name, key in decoder.items():
            report.add_dropped(drop_reason, key)
        decoder = {}

    if not encoder and not decoder and other_branch:
        report.errors.append(f"no {branch} keys in this checkpoint; it holds the other branch "
                             f"only (e.g. {other_branch[0]}): choose it with --branch")
    if unknown:
        report.errors.append(f"{len(unknown)} unknown source key(s), neither mapped nor on the "
                             f"drop list: {_listing(unknown)}")

    out: Dict[str, np.ndarray] = {}
    not_in_target, bad_shape = [], []
    for d2_name, key in list(encoder.items()) + list(decoder.items()):
        value = sd[key]
        if d2_name not in target and d2_name.endswith(".num_batches_tracked") and \
                d2_name.replace("num_batches_tracked", "running_mean") in target:
            report.add_dropped("BN step counter; the target norm is FrozenBN (FREEZE_AT > 0)", key)
            continue
        if d2_name not in target:
            not_in_target.append(f"{key} -> {d2_name}")
            continue
        if tuple(value.shape) != tuple(target[d2_name]):
            bad_shape.append(f"{key} {tuple(value.shape)} vs {d2_name} {tuple(target[d2_name])}")
            continue
        out[d2_name] = _to_numpy(value)
        report.add_converted(rules.converted_group(d2_name), key, d2_name)
    if not_in_target:
        report.errors.append(f"{len(not_in_target)} key(s) map to names the target model "
                             f"does not have: {_listing(not_in_target)}")
    if bad_shape:
        hint = ("; the fine-tune config's decoder differs from the pre-trained one (e.g. "
                "MODEL.SEM_SEG_HEAD.CONVS_DIM vs MODEL.DECON.FCN.CONVS_DIM): match them, or "
                "convert with --decoder none (encoder-only transfer)"
                if any(" vs " + p in b for b in bad_shape for p in rules.DECODER_PREFIXES) else "")
        report.errors.append(f"{len(bad_shape)} shape mismatch(es): {_listing(bad_shape)}{hint}")
    if not out and not report.errors:
        report.errors.append("zero matches: nothing converted")

    expected_encoder = {k for k in target if rules.is_encoder_key(k)}
    missing_encoder = expected_encoder - set(encoder)
    if missing_encoder and (encoder or not report.errors):
        if layout != "ours":  # name them as the checkpoint would
            missing_encoder = {f"{rules.d2_to_torchvision(rules.encoder_relative(k))} ({k})"
                               for k in missing_encoder}
        report.errors.append(f"{len(missing_encoder)} encoder key(s) missing from the checkpoint "
                             f"(they would stay randomly initialised): {_listing(missing_encoder)}")
    if include_decoder and decoder:
        _check_decoder(set(decoder), target, report, kind)

    provided = set(out)
    report.left_for_finetuning = rules.group_keys(
        (k for k in target if k not in provided), rules.target_group)
    report.record = _output_record(layout, report.decoder, out, record, epoch, report)
    if report.errors:
        if not allow_partial:
            raise ConversionError("; ".join(report.errors), report)
        report.partial = True
        report.record.partial = True
    position = {k: i for i, k in enumerate(target)}
    return dict(sorted(out.items(), key=lambda kv: position[kv[0]])), report


def _check_decoder(provided, target, report: ConversionReport, kind: str) -> None:
    """FPN: laterals 2..5 and output conv 2 are required; an output conv 3..5 is all or nothing.
    FCN head: every conv layer of the target's head is required."""
    if kind == "fcn":
        keys = {k for k in target if rules.decoder_kind(k) == "fcn"}
        if keys - provided:
            report.errors.append(f"FCN head: {len(keys - provided)} key(s) missing from the "
                                 f"checkpoint: {_listing(keys - provided)}")
        return
    modules = {}
    for k in target:
        m = re.match(r"backbone\.(fpn_(?:lateral|output)\d)\.", k)
        if m:
            modules.setdefault(m.group(1), set()).add(k)
    for module, keys in sorted(modules.items()):
        have = keys & provided
        optional = module in ("fpn_output3", "fpn_output4", "fpn_output5")
        if (have or not optional) and have != keys:
            report.errors.append(f"FPN {module}: {len(keys - have)} key(s) missing from the "
                                 f"checkpoint: {_listing(keys - have)}")


def _output_record(layout, decoder, out, record: PretrainRecord, epoch, report
                   ) -> ConvertedRecord:
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
