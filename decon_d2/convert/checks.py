"""The conversion's checks: anything that would make Detectron2 silently start from random
weights is an error (a silently random backbone costs a whole fine-tuning run before anyone
notices).

Errors, in the report's order: a branch the checkpoint does not hold, an unknown source key, a
key the target model does not have, a shape mismatch, zero matches, a missing encoder key, and,
when the decoder is exported, a missing FPN lateral or p2 output conv (or FCN head layer).
"""
import dataclasses
import re
from typing import Dict, List

from ..weights import DECODER_PREFIXES, d2_to_torchvision, decoder_kind, encoder_relative, \
    is_encoder_key

__all__ = ["SortedKeys", "check", "listing", "MAX_LISTED"]

MAX_LISTED = 8


def listing(keys) -> str:
    """The first keys (sorted) for an error message, and how many more there are."""
    keys = sorted(keys)
    more = f" ... (+{len(keys) - MAX_LISTED} more)" if len(keys) > MAX_LISTED else ""
    return ", ".join(keys[:MAX_LISTED]) + more


@dataclasses.dataclass
class SortedKeys:
    """Source keys by what the conversion made of them (what the checks read)."""

    encoder: Dict[str, str] = dataclasses.field(default_factory=dict)  # target name -> source
    decoder: Dict[str, str] = dataclasses.field(default_factory=dict)  # (exported only)
    unknown: List[str] = dataclasses.field(default_factory=list)
    other_branch: List[str] = dataclasses.field(default_factory=list)
    not_in_target: List[str] = dataclasses.field(default_factory=list)  # "key -> name"
    bad_shape: List[str] = dataclasses.field(default_factory=list)  # "key (shape) vs name (shape)"


def check(report, keys: SortedKeys, out, layout: str, target, kind, branch: str) -> None:
    """Append every error of the conversion (``out``: what converted) to ``report.errors``."""
    if not keys.encoder and not keys.decoder and keys.other_branch:
        report.errors.append(f"no {branch} keys in this checkpoint; it holds the other branch "
                             f"only (e.g. {keys.other_branch[0]}): choose it with --branch")
    if keys.unknown:
        report.errors.append(f"{len(keys.unknown)} unknown source key(s), neither mapped nor on "
                             f"the drop list: {listing(keys.unknown)}")
    if keys.not_in_target:
        report.errors.append(f"{len(keys.not_in_target)} key(s) map to names the target model "
                             f"does not have: {listing(keys.not_in_target)}")
    if keys.bad_shape:
        hint = ("; the fine-tune config's decoder differs from the pre-trained one (e.g. "
                "MODEL.SEM_SEG_HEAD.CONVS_DIM vs MODEL.DECON.FCN.CONVS_DIM): match them, or "
                "convert with --decoder none (encoder-only transfer)"
                if any(" vs " + p in b for b in keys.bad_shape for p in DECODER_PREFIXES) else "")
        report.errors.append(f"{len(keys.bad_shape)} shape mismatch(es): "
                             f"{listing(keys.bad_shape)}{hint}")
    if not out and not report.errors:
        report.errors.append("zero matches: nothing converted")
    _check_encoder(report, keys.encoder, layout, target)
    if keys.decoder:
        _check_decoder(set(keys.decoder), target, report, kind)


def _check_encoder(report, encoder: Dict[str, str], layout: str, target) -> None:
    """Every ResNet key of the target must come from the checkpoint."""
    missing = {k for k in target if is_encoder_key(k)} - set(encoder)
    if missing and (encoder or not report.errors):
        if layout != "ours":  # name them as the checkpoint would
            missing = {f"{d2_to_torchvision(encoder_relative(k))} ({k})" for k in missing}
        report.errors.append(f"{len(missing)} encoder key(s) missing from the checkpoint "
                             f"(they would stay randomly initialised): {listing(missing)}")


def _check_decoder(provided, target, report, kind: str) -> None:
    """FPN: laterals 2..5 and output conv 2 are required; an output conv 3..5 is all or nothing.
    FCN head: every conv layer of the target's head is required."""
    if kind == "fcn":
        keys = {k for k in target if decoder_kind(k) == "fcn"}
        if keys - provided:
            report.errors.append(f"FCN head: {len(keys - provided)} key(s) missing from the "
                                 f"checkpoint: {listing(keys - provided)}")
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
                                 f"checkpoint: {listing(keys - have)}")
