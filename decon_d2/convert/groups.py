"""Groups of keys for the conversion report and the load check: stem, res2..res5, FPN, heads.

A report lists keys by group so that real problems (a missing encoder stage) stand out from the
expected "heads left to fine-tuning"; the load check (``verify.py``) allows exactly the head
groups to be missing.
"""
import re
from typing import Dict, Iterable, List

from ..weights import C4_RES5, encoder_group, is_encoder_key

__all__ = ["converted_group", "target_group", "HEAD_GROUPS", "group_keys"]

# Target groups that are legitimately absent from any pre-trained backbone: the task heads
# (detection; segmentation: Semantic FPN's head, the classifier). verify.py adds the decoder
# groups an export without that decoder leaves for fine-tuning.
HEAD_GROUPS = ("rpn", "roi_box_head", "roi_mask_head", "roi_keypoint_head", "sem_seg_head",
               "sem_seg classifier", "roi_res5_extra_norm")

#: target-key prefix -> its group when not provided (first match wins)
_TARGET_GROUPS = (
    ("proposal_generator.", "rpn"),
    (C4_RES5 + "norm.", "roi_res5_extra_norm"),
    ("roi_heads.box_", "roi_box_head"),
    ("roi_heads.mask_", "roi_mask_head"),
    ("roi_heads.keypoint_", "roi_keypoint_head"),
    ("backbone.fpn_output", "fpn_output (not pre-trained)"),
    ("backbone.fpn_lateral", "fpn_lateral (not pre-trained)"),
    ("backbone.bottom_up.", "encoder (not pre-trained)"),
    ("sem_seg_head.convs.", "fcn_head (not pre-trained)"),
    ("sem_seg_head.predictor.", "sem_seg classifier"),
    ("sem_seg_head.", "sem_seg_head"),
)


def converted_group(d2_name: str) -> str:
    """Report group of a converted key: stem, res2..res5, fpn_lateral, fpn_output, fcn_head."""
    group = encoder_group(d2_name)
    if group:
        return group
    if d2_name.startswith("sem_seg_head.convs."):
        return "fcn_head"
    m = re.match(r"backbone\.(fpn_lateral|fpn_output)\d", d2_name)
    return m.group(1) if m else "other"


def target_group(d2_name: str) -> str:
    """Report group of a target key that the conversion does not provide."""
    for prefix, group in _TARGET_GROUPS:
        if d2_name.startswith(prefix):
            return group
    if is_encoder_key(d2_name):
        return "encoder (not pre-trained)"
    return "other"


def group_keys(names: Iterable[str], grouper) -> Dict[str, List[str]]:
    """``{group: sorted names}`` for report tables."""
    out: Dict[str, List[str]] = {}
    for n in sorted(names):
        out.setdefault(grouper(n), []).append(n)
    return out
