"""The study's frozen probes: which backbones, with which options, into which JSON file, and the
rows read back by (row kind, seed).

Every arm (one pre-training method, every seed) is probed five ways, each one
``python -m decon_d2.probe`` run writing ``<out>/probe/<method>_<kind>.json``:
  ``teacher``     the exported teacher after pre-training (the endpoint's row);
  ``init``        the network the run started from (iteration 0, ``tools/study/initial.py``);
  ``student``     the student after pre-training;
  ``teacher_bn``  and ``init_bn``: the same two with their BatchNorm statistics re-estimated on
                  the probe's training images at its resolution (``--bn-reestimate``).
Detectron2's random init (one draw per seed) is probed once per study, plain and re-estimated
(``random.json``, ``random_bn.json``). Every row has the same levels.
"""
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Dict, List, Tuple

__all__ = ["ProbeRun", "KINDS", "row_label", "arm_runs", "random_runs", "probe_argv",
           "read_rows"]

#: kind -> (row label, extra probe options)
KINDS = {
    "teacher": ("teacher", []),
    "init": ("iteration 0", []),
    "student": ("student", ["--student"]),
    "teacher_bn": ("teacher, BN re-estimated", ["--bn-reestimate"]),
    "init_bn": ("iteration 0, BN re-estimated", ["--bn-reestimate"]),
    "random": ("Detectron2 random init", []),
    "random_bn": ("Detectron2 random init, BN re-estimated", ["--bn-reestimate"]),
}


def row_label(method: str, kind: str) -> str:
    """The table label of ``method``'s rows of ``kind`` (random-init rows have no method)."""
    what = KINDS[kind][0]
    return what if kind.startswith("random") else f"{method} {what}"


@dataclass(frozen=True)
class ProbeRun:
    """One probe command: ``weights[i]`` is seed ``seeds[i]``'s backbone."""
    method: str  # "" for the random-init rows
    kind: str
    seeds: Tuple[int, ...]
    weights: Tuple[str, ...]

    @property
    def label(self) -> str:
        return row_label(self.method, self.kind)

    def json(self, out: Path) -> Path:
        return out / "probe" / (f"{self.method}_{self.kind}.json" if self.method
                                else f"{self.kind}.json")


def arm_runs(method: str, seeds: List[int], finals: Dict[int, Path],
             inits: Dict[int, Path]) -> List[ProbeRun]:
    """The five probes of one method's runs (``finals``/``inits``: checkpoint per seed)."""
    s = tuple(seeds)
    final = tuple(str(finals[x]) for x in seeds)
    init = tuple(str(inits[x]) for x in seeds)
    return [ProbeRun(method, "teacher", s, final), ProbeRun(method, "init", s, init),
            ProbeRun(method, "student", s, final), ProbeRun(method, "teacher_bn", s, final),
            ProbeRun(method, "init_bn", s, init)]


def random_runs(seeds: List[int]) -> List[ProbeRun]:
    w = tuple(f"random:{x}" for x in seeds)
    return [ProbeRun("", "random", tuple(seeds), w), ProbeRun("", "random_bn", tuple(seeds), w)]


def probe_argv(run: ProbeRun, out: Path, train: str, val: str, levels: List[str],
               random_geometry: Tuple[int, int], max_images: int = 0) -> List[str]:
    """``python -m decon_d2.probe`` arguments of ``run``."""
    depth, width = random_geometry
    argv = ["--train", train, "--val", val, "--levels", *levels, "--random-depth", str(depth),
            "--random-fpn-channels", str(width), "--out", str(run.json(out)),
            *KINDS[run.kind][1]]
    if max_images:
        argv += ["--max-images", str(max_images)]
    return argv + [x for w in run.weights for x in ("--weights", w)]


def read_rows(runs: List[ProbeRun], out: Path) -> Dict[Tuple[str, int], Dict]:
    """``{(run label, seed): probe row}``; a file whose rows do not match its run is an error
    naming the file (delete it to probe again)."""
    rows = {}
    for run in runs:
        path = run.json(out)
        doc = json.loads(path.read_text())
        if len(doc["rows"]) != len(run.seeds):
            raise SystemExit(f"{path} holds {len(doc['rows'])} rows, the study expects "
                             f"{len(run.seeds)} (seeds {list(run.seeds)}): delete it to probe "
                             "again")
        for seed, row in zip(run.seeds, doc["rows"]):
            rows[(run.label, seed)] = row
    return rows
