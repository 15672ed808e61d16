"""The study's fine-tuning transfer: rows (a)-(e), converted weights, one run per (row, label
fraction, seed), all with one recipe (``configs/study/small/semantic_R_18_FPN_study.yaml``).

Rows, for pre-training seed ``s`` (the fine-tuning run uses ``SEED s`` and the label subset of
seed ``s``, so that every row of one seed sees the same images in the same order):
  (a) Detectron2's random init of the whole segmentor (``MODEL.WEIGHTS ""``);
  (b) the network the pre-training runs started from (encoder + FPN at iteration 0,
      ``tools/study/initial.py``), converted like a pre-trained one;
  (c) SlotCon's teacher encoder, FPN random;
  (d) DeCon-ML's teacher encoder, FPN random (``--decoder none``);
  (e) DeCon-ML's teacher encoder and its pre-trained FPN (the homogeneous transfer).
Nothing here changes with the row but the weights file and ``MODEL.TRANSFER.DECODER``.
"""
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Dict, List, Optional, Tuple

__all__ = ["ROWS", "Row", "FT_CONFIG", "weights_path", "convert_jobs", "finetune_cmd", "read_miou",
           "results_file", "run_dir", "collect"]

FT_CONFIG = "configs/study/small/semantic_R_18_FPN_study.yaml"


@dataclass(frozen=True)
class Row:
    key: str  # a..e
    label: str
    source: Optional[str]  # "init" | "slotcon" | "decon_ml" | None (random init)
    with_decoder: bool  # the pre-trained FPN is converted and loaded


ROWS = (
    Row("a", "(a) Detectron2 random init", None, False),
    Row("b", "(b) the runs' starting network (enc + FPN, iteration 0)", "init", True),
    Row("c", "(c) SlotCon enc + random FPN", "slotcon", False),
    Row("d", "(d) DeCon-ML enc + random FPN", "decon_ml", False),
    Row("e", "(e) DeCon-ML enc + its pre-trained FPN", "decon_ml", True),
)


def _checkpoint(row: Row, seed: int, runs: Dict[str, Dict[int, Path]], out: Path) -> Path:
    if row.source == "init":  # the DeCon-ML model at iteration 0 (it has the FPN)
        return out / "init" / f"decon_ml_s{seed}.pth"
    return runs[row.source][seed] / "model_final.pth"


def weights_path(row: Row, seed: int, out: Path) -> Optional[Path]:
    """The converted ``.pkl`` row ``row`` fine-tunes from (None: random init)."""
    if row.source is None:
        return None
    kind = "fpn" if row.with_decoder else "enc"
    return out / "converted" / f"{row.source}_s{seed}_{kind}.pkl"


def convert_jobs(seeds: List[int], runs, out: Path) -> List[Tuple[Path, List[str]]]:
    """(``.pkl``, ``python -m decon_d2.convert`` arguments) per distinct weights file (each
    verified), in order."""
    cmds, seen = [], set()
    for seed in seeds:
        for row in ROWS:
            pkl = weights_path(row, seed, out)
            if pkl is None or pkl in seen:
                continue
            seen.add(pkl)
            cmd = [str(_checkpoint(row, seed, runs, out)), str(pkl), "--config", FT_CONFIG]
            if not row.with_decoder:
                cmd += ["--decoder", "none"]
            cmds.append((pkl, cmd))
    return cmds


def finetune_cmd(py: str, row: Row, fraction: float, seed: int, out: Path, folder: Path,
                 extra: List[str]) -> List[str]:
    """``train_net.py`` for one (row, fraction, seed) fine-tuning run into ``folder``."""
    pkl = weights_path(row, seed, out)
    return [py, "train_net.py", "--config-file", FT_CONFIG, "--resume",
            "MODEL.WEIGHTS", "" if pkl is None else str(pkl),
            "MODEL.TRANSFER.DECODER", "pretrained" if row.with_decoder else "random",
            "DATASETS.DECON.TRAIN_FRACTION", str(fraction),
            "DATASETS.DECON.TRAIN_FRACTION_SEED", str(seed),
            "SEED", str(seed), "OUTPUT_DIR", str(folder), *extra]


def read_miou(folder: Path, dataset: str) -> float:
    """mIoU (percent) of a finished fine-tuning run (``results.json``, finetune/results.py)."""
    doc = json.loads(results_file(folder).read_text())
    return doc["results"][dataset]["sem_seg"]["mIoU"]


def results_file(folder: Path) -> Path:
    """Where a fine-tuning run in ``folder`` writes its scores (finetune/trainer.py)."""
    return folder / "inference" / "results.json"


def run_dir(out: Path, row: Row, fraction: float, seed: int) -> Path:
    return out / "finetune" / f"{row.key}_{int(round(fraction * 100))}pct_s{seed}"


def collect(out: Path, fractions, seeds, dataset: str,
            read: Callable[[Path, str], float] = read_miou) -> Dict[str, Dict[float, List]]:
    """``{row key: {fraction: [mIoU per seed, in seed order]}}``."""
    return {row.key: {f: [read(run_dir(out, row, f, s), dataset) for s in seeds]
                      for f in fractions} for row in ROWS}
