"""``InitReport``: what a continual pre-training run loaded from ``MODEL.WEIGHTS``, what it
dropped (and why) and what starts fresh, as the converter's report does for conversion.

Printed as a short table at start and written as ``OUTPUT_DIR/initial_weights.json`` with the
full key lists; a failed load raises ``InitialWeightsError`` carrying the same table.
"""
import dataclasses
import json
import re
from typing import Dict, List, Optional, Tuple

from tabulate import tabulate

__all__ = ["InitReport", "InitialWeightsError"]

_MAX_LISTED = 8


class InitialWeightsError(ValueError):
    """``MODEL.WEIGHTS`` cannot initialise this run faithfully; carries the report."""

    def __init__(self, message: str, report=None):
        super().__init__(message)
        self.report = report


def _listing(keys) -> str:
    keys = sorted(keys)
    more = f" ... (+{len(keys) - _MAX_LISTED} more)" if len(keys) > _MAX_LISTED else ""
    return ", ".join(keys[:_MAX_LISTED]) + more


def group(name: str) -> str:
    """Report group of a student key: stem, res2..res5, fpn_lateral, fpn_output, heads.<feature>."""
    m = re.match(r"student\.backbone\.bottom_up\.(\w+)", name)
    if m:
        return m.group(1)
    m = re.match(r"student\.backbone\.(fpn_lateral|fpn_output)\d", name)
    if m:
        return m.group(1)
    m = re.match(r"student\.heads\.(\w+)\.", name)
    return f"heads.{m.group(1)}" if m else "other"


@dataclasses.dataclass
class InitReport:
    path: str
    layout: Optional[str]
    origin: str
    branch: Optional[str]
    depth: int
    # group -> [(source key, student key)]; the teacher is then an exact copy of the student
    loaded_keys: Dict[str, List[Tuple[str, str]]] = dataclasses.field(default_factory=dict)
    dropped: Dict[str, List[str]] = dataclasses.field(default_factory=dict)  # reason -> [source]
    fresh: Dict[str, List[str]] = dataclasses.field(default_factory=dict)  # group -> [student]
    unknown: List[str] = dataclasses.field(default_factory=list)
    not_in_model: List[str] = dataclasses.field(default_factory=list)  # encoder keys
    bad_shape: List[str] = dataclasses.field(default_factory=list)  # encoder and FPN keys
    errors: List[str] = dataclasses.field(default_factory=list)
    warnings: List[str] = dataclasses.field(default_factory=list)

    def loaded(self, name: str, key: str) -> None:
        self.loaded_keys.setdefault(group(name), []).append((key, name))

    def drop(self, reason: str, key: str) -> None:
        self.dropped.setdefault(reason, []).append(key)

    @property
    def num_loaded(self) -> int:
        return sum(len(v) for v in self.loaded_keys.values())

    def check(self, target, new_state, bn_stats, file_keys) -> None:
        """Errors for an encoder that would start (partly) random, unknown keys; fresh groups."""
        encoder = {k for k in target if k.startswith("student.backbone.bottom_up.")}
        missing = [k for k in encoder if k not in new_state]
        if len(missing) == len(encoder):
            self.errors.append(
                f"no encoder key loads from {self.path} ({self.origin}), the run would start from "
                "random weights; accepted: a decon-d2 checkpoint (student/teacher.backbone.*), "
                "the authors'/SlotCon one (module.encoder_k.*), a torchvision ResNet (layer1.*) "
                f"or a Detectron2 .pkl; first keys of the file: {_listing(list(file_keys)[:8])}")
        elif missing:
            weights = [k for k in missing if not k.endswith(bn_stats)]
            if weights:
                self.errors.append(f"{len(weights)} encoder key(s) missing from the file (they "
                                   f"would stay random): {_listing(weights)}")
            if len(weights) < len(missing):
                self.warnings.append(f"{len(missing) - len(weights)} norm statistics not in the "
                                     "file (e.g. Caffe2's affine-only BN): they start at 0 / 1")
        if self.not_in_model:
            self.errors.append(f"{len(self.not_in_model)} encoder key(s) of the file are not in "
                               f"this model's ResNet-{self.depth}: {_listing(self.not_in_model)}")
        if self.bad_shape:
            self.errors.append(f"{len(self.bad_shape)} shape mismatch(es) (MODEL.RESNETS.DEPTH "
                               f"{self.depth}?): {_listing(self.bad_shape)}")
        if self.unknown:
            self.errors.append(f"{len(self.unknown)} unknown key(s), neither mapped nor on a drop "
                               f"list: {_listing(self.unknown)}")
        for name in target:
            if name not in new_state:
                stats = " norm statistics" if name in encoder and name.endswith(bn_stats) else ""
                self.fresh.setdefault(group(name) + stats, []).append(name)

    def to_json(self) -> str:
        d = dataclasses.asdict(self)
        d["num_loaded"] = self.num_loaded
        return json.dumps(d, indent=2, default=str)

    def format_table(self) -> str:
        branch = f"   branch: {self.branch}" if self.branch else ""
        head = f"initial weights: {self.path} ({self.origin}; layout {self.layout}){branch}"
        rows = [["loaded", g, len(v)] for g, v in sorted(self.loaded_keys.items())]
        rows += [["dropped", r, len(v)] for r, v in sorted(self.dropped.items())]
        rows += [["fresh", g, len(v)] for g, v in sorted(self.fresh.items())]
        parts = [head, tabulate(rows, headers=["", "group / reason", "keys"], tablefmt="simple"),
                 "teacher: an exact copy of the student (both start from these weights)"]
        parts += [f"WARNING: {w}" for w in self.warnings]
        parts += [f"ERROR: {e}" for e in self.errors]
        return "\n".join(parts)
