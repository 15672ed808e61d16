"""``python -m tools.study.initial``: the network a pre-training run starts from, saved.

A pre-training run does not save its iteration-0 weights, and Detectron2's random
initialisation (the probe's ``random``) is not the DeCon model's: the DeCon backbone zero-inits
the last norm gamma of every residual block, as the torchvision ResNet of SlotCon/DeCon does
(``MODEL.DECON.ZERO_INIT_RESIDUAL``), and that changes what a frozen random network computes. The
fair baseline of "did pre-training improve the features" is the same model at iteration 0; this
command rebuilds it as ``train_net.py`` does (``SEED`` set before the model is built, teacher =
student) and saves it as a checkpoint the probe reads. The online probe's iteration-0 point of
the same run is the check that it is the same network (docs/learning.md).
"""
import argparse
import sys
from pathlib import Path

from detectron2.modeling import build_model
from detectron2.utils.env import seed_all_rng

from decon_d2.engine.checkpoint import DeConCheckpointer, DeConMeta
from decon_d2.config import build_cfg


def save_initial_checkpoint(config_file: str, seed: int, out: Path) -> Path:
    """``out`` (a ``.pth``): the model of ``config_file`` as a fresh run with ``SEED seed`` builds
    it (CPU), teacher = student, with ``decon_meta`` (iteration 0)."""
    cfg = build_cfg(config_file, ["SEED", seed, "MODEL.DEVICE", "cpu"])
    seed_all_rng(seed)  # what default_setup does before the trainer builds the model
    model = build_model(cfg)
    model.copy_student_to_teacher()
    meta = DeConMeta(cfg, model, lambda: 0).state_dict()
    out.parent.mkdir(parents=True, exist_ok=True)
    DeConCheckpointer(model, str(out.parent)).save(out.stem, iteration=0, decon_meta=meta)
    return out


def main(argv=None) -> int:
    p = argparse.ArgumentParser(prog="python -m tools.study.initial",
                                description=__doc__.splitlines()[0])
    p.add_argument("--config-file", required=True, help="the pre-training config")
    p.add_argument("--seed", type=int, required=True)
    p.add_argument("--out", required=True, help="the .pth to write")
    a = p.parse_args(argv)
    out = Path(a.out)
    if out.suffix != ".pth":
        p.error(f"--out must end in .pth, got {a.out}")
    print(f"wrote {save_initial_checkpoint(a.config_file, a.seed, out)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
