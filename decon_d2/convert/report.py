"""``ConversionReport``: what was converted, dropped and left for fine-tuning, and why.

A silent conversion is the root of most "my AP is 10 points low" reports: Detectron2 can load a
mis-named checkpoint with whole backbones randomly initialised behind one warning. The report therefore accounts for
every source key and every target key, prints a short table (counts per group, so that real
problems stand out from the expected "heads left to fine-tuning"), and is saved as JSON beside
the output with the full key lists.
"""
import dataclasses
import json
from typing import Any, Dict, List, Optional, Tuple

from tabulate import tabulate

from ..weights import ConvertedRecord

__all__ = ["ConversionReport"]


@dataclasses.dataclass
class ConversionReport:
    layout: Optional[str] = None
    branch: Optional[str] = None
    variant: Optional[str] = None
    include_decoder: bool = False
    decoder: Optional[str] = None  # the exported decoder: "fpn", "fcn" or None
    # group (stem, res2..res5, fpn_lateral, fpn_output) -> [(source key, Detectron2 key)]
    converted: Dict[str, List[Tuple[str, str]]] = dataclasses.field(default_factory=dict)
    # reason -> [source key]
    dropped: Dict[str, List[str]] = dataclasses.field(default_factory=dict)
    # group (rpn, roi_box_head, roi_mask_head, fpn_output (not pre-trained)) -> [Detectron2 key]
    left_for_finetuning: Dict[str, List[str]] = dataclasses.field(default_factory=dict)
    errors: List[str] = dataclasses.field(default_factory=list)
    warnings: List[str] = dataclasses.field(default_factory=list)
    partial: bool = False
    # the output's decon_meta record (decon_d2/weights/record.py); ``meta`` is its dict
    record: Optional[ConvertedRecord] = None
    verification: Optional[Dict[str, Any]] = None

    @property
    def num_converted(self) -> int:
        return sum(len(v) for v in self.converted.values())

    @property
    def meta(self) -> Dict[str, Any]:
        """The output's ``decon_meta`` as the ``.pkl`` stores it ({} before conversion)."""
        return self.record.to_dict() if self.record is not None else {}

    @property
    def ok(self) -> bool:
        return not self.errors

    def add_converted(self, group: str, src: str, dst: str) -> None:
        self.converted.setdefault(group, []).append((src, dst))

    def add_dropped(self, reason: str, src: str) -> None:
        self.dropped.setdefault(reason, []).append(src)

    def to_dict(self) -> Dict[str, Any]:
        d = {("meta" if k == "record" else k): (self.meta if k == "record" else v)
             for k, v in dataclasses.asdict(self).items()}
        d["converted"] = {g: [list(p) for p in v] for g, v in self.converted.items()}
        d["num_converted"] = self.num_converted
        d["ok"] = self.ok
        return d

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), indent=2, sort_keys=False, default=str)

    def format_table(self) -> str:
        """Human summary: counts per group, then errors, warnings and verification."""
        exported = {"fpn": "encoder + FPN", "fcn": "encoder + FCN head"}.get(self.decoder,
                                                                           "encoder")
        head = (f"source layout: {self.layout}   branch: {self.branch}   variant: {self.variant}"
                f"   exported: {exported}" + ("   [PARTIAL]" if self.partial else ""))
        rows = []
        for g in sorted(self.converted, key=_group_order):
            rows.append(["converted", g, len(self.converted[g])])
        for reason in sorted(self.dropped):
            rows.append(["dropped", reason, len(self.dropped[reason])])
        for g in sorted(self.left_for_finetuning):
            rows.append(["left for fine-tuning", g, len(self.left_for_finetuning[g])])
        written = ", ".join(f"{g} ({len(self.converted[g])})" for g in
                            ("fpn_lateral", "fpn_output", "fcn_head") if g in self.converted)
        left = ", ".join(f"{g} ({len(v)})" for g, v in sorted(self.left_for_finetuning.items()))
        parts = [head, f"decoder weights written: {written or 'none'}; left to fine-tuning: "
                       f"{left or 'nothing'}",
                 tabulate(rows, headers=["", "group / reason", "keys"], tablefmt="simple")]
        if self.verification:
            v = self.verification
            vrows = [[k, f"{d:.3g}"] for k, d in v.get("max_abs_diff", {}).items()]
            parts.append(
                f"verification ({v.get('reference')}): "
                + ("PASSED" if v.get("passed") else "FAILED" if v.get("passed") is False
                   else "not run")
                + (f", tolerance {v['tolerance']:g}" if "tolerance" in v else "")
            )
            if vrows:
                parts.append(tabulate(vrows, headers=["feature", "max |diff|"], tablefmt="simple"))
            parts.extend(f"  note: {n}" for n in v.get("notes", []))
        parts.extend(f"WARNING: {w}" for w in self.warnings)
        parts.extend(f"ERROR: {e}" for e in self.errors)
        return "\n".join(parts)


def _group_order(g: str):
    order = ["stem", "res2", "res3", "res4", "res5", "fpn_lateral", "fpn_output", "fcn_head"]
    return (order.index(g) if g in order else len(order), g)
