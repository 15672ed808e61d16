"""``convert_to_d2``: a pre-training state dict in, the state dict of a Detectron2 target (Mask
R-CNN R50-FPN, Faster R-CNN R50-C4, segmentation models) and a :class:`ConversionReport` out.

What is exported (docs/method.md §4.2, D5): the **teacher** encoder, plus the teacher
FPN when the checkpoint has one (DeCon-SL/-ML), as SlotCon and the DeCon authors do; the EMA
teacher is the better network (DINO's published backbone is its teacher too). ``branch="student"``
exports the student instead (MoCo/DenseCL convention); by default (``branch=None``) the branch
is the one the checkpoint's record names (``PretrainRecord.export_branch``; DenseCL heads: the
student), else the teacher. ``include_decoder=False`` exports the encoder only (SlotCon-style
transfer, and the decoder ablation).

Every source key ends up converted, dropped with a reason, or is an error (``checks.py``); every
target key is provided or listed as left for fine-tuning. ``allow_partial=True`` turns the
errors into a report marked ``partial``. The steps, in order: read (the layout), classify (each
key, ``decon_d2.weights.classify``), choose the decoder, rename (into the target's names and
arrays), check, record (``output_record.py``).
"""
from typing import Any, Dict, Mapping, Optional, Tuple, Union

import numpy as np
import torch

from ..weights import (PretrainRecord, classify, decoder_kind, detect_layout, encoder_placement,
                       has_c4_head)
from .c4_target import FPN_DROP_REASON as C4_FPN_DROP
from .checks import MAX_LISTED, SortedKeys, check, listing
from .errors import ConversionError
from .groups import converted_group, group_keys, target_group
from .output_record import CONVERTER_VERSION, output_record, source_variant
from .report import ConversionReport
from .targets import default_finetune_cfg, target_shapes

__all__ = ["convert_to_d2", "CONVERTER_VERSION"]

_DECODER_NAMES = {"fpn": "FPN", "fcn": "FCN head"}
Target = Mapping[str, Tuple[int, ...]]


def convert_to_d2(
    state_dict: Mapping[str, torch.Tensor],
    *,
    branch: Optional[str] = None,
    include_decoder: Optional[bool] = None,
    allow_partial: bool = False,
    target: Optional[Target] = None,
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
            :func:`targets.default_finetune_cfg`.
        meta: the checkpoint's record (``decon_d2.weights.PretrainRecord``, or its
            ``decon_meta`` dict), carried into the output record.
        epoch: the source's epoch (the authors' files), carried into the output record.

    Returns:
        ``({Detectron2 name: numpy array}, report)``.

    Raises:
        ConversionError: on any error listed in ``checks.py``, unless ``allow_partial``.
    """
    record = meta if isinstance(meta, PretrainRecord) else PretrainRecord.from_dict(meta)
    branch = record.branch if branch is None else branch
    if branch not in ("teacher", "student"):
        raise ValueError(f"branch must be 'teacher' or 'student', got {branch!r}")
    if target is None:
        target = target_shapes(default_finetune_cfg())
    layout, sd, report = _read(state_dict, branch)
    keys = _classify(layout, sd, branch, target, report)
    kind = _choose_decoder(keys, layout, branch, target, include_decoder, record, report)
    out = _rename(sd, keys, target, report)
    check(report, keys, out, layout, target, kind, branch)
    return _record(out, layout, target, record, epoch, allow_partial, report)


def _read(state_dict, branch: str):
    """(layout, state dict without ``module.``, report); no known layout is an error."""
    layout, sd = detect_layout(state_dict)
    report = ConversionReport(layout=layout, branch=None if layout == "torchvision" else branch)
    if layout is None:
        report.errors.append(
            "zero matches: no key looks like a decon-d2 checkpoint (teacher.backbone.*), the "
            "authors'/SlotCon layout (module.encoder_k.*) or a torchvision ResNet (layer1.*); "
            f"first keys: {listing(list(sd)[:MAX_LISTED])}"
        )
        raise ConversionError(report.errors[0], report)
    return layout, sd, report


def _classify(layout: str, sd, branch: str, target: Target, report) -> SortedKeys:
    """Each source key to its target name (encoder, decoder), or dropped with its reason."""
    place = encoder_placement(target)  # res5 -> roi_heads.res5. in a C4 target
    keys = SortedKeys()
    for key in sd:
        action = classify(layout, key, branch)
        if action.kind == "encoder":
            keys.encoder[place(action.name)] = key
        elif action.kind == "decoder":
            keys.decoder[action.name] = key
        elif action.kind == "other_branch":
            keys.other_branch.append(key)
            report.add_dropped(f"other branch ({action.name}); exporting the {branch}", key)
        elif action.kind == "drop":
            report.add_dropped(action.name, key)
        else:
            keys.unknown.append(key)
    return keys


def _choose_decoder(keys: SortedKeys, layout: str, branch: str, target: Target,
                    include_decoder, record, report) -> Optional[str]:
    """Export the checkpoint's decoder or not (``--decoder auto``: where the target has one);
    one not exported is dropped with the reason. Returns its kind ("fpn", "fcn" or None)."""
    kind = next((decoder_kind(n) for n in keys.decoder), None)
    in_target = kind is not None and any(decoder_kind(k) == kind for k in target)
    reason = f"{_DECODER_NAMES.get(kind)} decoder not exported (encoder only)"
    if include_decoder is None:  # --decoder auto: the decoder goes where the target has one
        include_decoder = in_target
        if kind and not in_target:
            reason = C4_FPN_DROP if has_c4_head(target) else (
                f"{_DECODER_NAMES[kind]} decoder not exported: the target model has none "
                "(heterogeneous transfer: its decoder starts from scratch)")
    report.include_decoder = bool(include_decoder)
    report.decoder = kind if include_decoder else None
    report.variant = source_variant(layout, keys.decoder, record, report)
    if include_decoder and not keys.decoder:
        report.errors.append(f"decoder requested but the checkpoint has no {branch} FPN keys "
                             "(nor FCN ones): use --decoder none")
    elif include_decoder and not in_target:
        report.errors.append(f"the {_DECODER_NAMES[kind]} decoder was requested but the target "
                             "model has none: --decoder none transfers the encoder alone")
    if not include_decoder:
        for key in keys.decoder.values():
            report.add_dropped(reason, key)
        keys.decoder = {}
    return kind


def _rename(sd, keys: SortedKeys, target: Target, report) -> Dict[str, np.ndarray]:
    """``{target name: array}`` of every encoder and exported decoder key that fits the target;
    the others go to ``keys.not_in_target`` / ``keys.bad_shape`` for the checks."""
    out: Dict[str, np.ndarray] = {}
    for d2_name, key in list(keys.encoder.items()) + list(keys.decoder.items()):
        value = sd[key]
        if d2_name not in target and d2_name.endswith(".num_batches_tracked") and \
                d2_name.replace("num_batches_tracked", "running_mean") in target:
            report.add_dropped("BN step counter; the target norm is FrozenBN (FREEZE_AT > 0)", key)
            continue
        if d2_name not in target:
            keys.not_in_target.append(f"{key} -> {d2_name}")
            continue
        if tuple(value.shape) != tuple(target[d2_name]):
            keys.bad_shape.append(f"{key} {tuple(value.shape)} vs {d2_name} "
                                  f"{tuple(target[d2_name])}")
            continue
        out[d2_name] = _to_numpy(value)
        report.add_converted(converted_group(d2_name), key, d2_name)
    return out


def _to_numpy(t: torch.Tensor) -> np.ndarray:
    t = t.detach().cpu()
    if t.dtype in (torch.float16, torch.bfloat16):
        t = t.float()
    return t.numpy().copy()


def _record(out, layout: str, target: Target, record, epoch, allow_partial: bool, report):
    """The output in the target's key order, the report with what is left for fine-tuning and
    the output's record; raises on errors unless ``allow_partial`` (then marked partial)."""
    provided = set(out)
    report.left_for_finetuning = group_keys((k for k in target if k not in provided),
                                            target_group)
    report.record = output_record(layout, report.decoder, out, record, epoch, report)
    if report.errors:
        if not allow_partial:
            raise ConversionError("; ".join(report.errors), report)
        report.partial = True
        report.record.partial = True
    position = {k: i for i, k in enumerate(target)}
    return dict(sorted(out.items(), key=lambda kv: position[kv[0]])), report
