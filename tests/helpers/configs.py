"""Instant-test configs and models: the tiny ResNet-18 twin of each catalogue variant
(``decon_d2/variants.py``), or the real ResNet-50 (Mask R-CNN's keys) with ``r50``."""
import torch
from detectron2.modeling import build_model

from decon_d2.config import build_cfg
from tools.paths import config_path
from decon_d2.variants import get_variant

__all__ = ["R50_OPTS", "decon_opts", "instant_test_cfg", "build_instant_model"]

#: overrides that turn the instant tests' ResNet-18 into the real ResNet-50 (Mask R-CNN keys)
R50_OPTS = ("MODEL.RESNETS.DEPTH", 50, "MODEL.RESNETS.RES2_OUT_CHANNELS", 256)


def decon_opts(**decon):
    """``decon_opts(SKIP_CHANNEL_DROPOUT=0.0)`` -> ``["MODEL.DECON.SKIP_CHANNEL_DROPOUT", 0.0]``."""
    return [x for k, v in decon.items() for x in (f"MODEL.DECON.{k}", v)]


def instant_test_cfg(variant="decon_ml", *opts, r50=False, output_dir=None):
    """The frozen instant-test config of ``variant`` with ``KEY, VALUE, ...`` overrides;
    ``r50``: the real ResNet-50 (Mask R-CNN's keys) instead of ResNet-18."""
    extra = list(R50_OPTS) if r50 else []
    if output_dir is not None:
        extra += ["OUTPUT_DIR", str(output_dir)]
    return build_cfg(config_path(get_variant(variant).instant_test), [*extra, *opts])


def build_instant_model(variant="decon_ml", *opts, r50=False, seed=0):
    """The instant-test DeCon model (arguments as ``instant_test_cfg``), seeded, teacher =
    student, in training mode."""
    torch.manual_seed(seed)
    model = build_model(instant_test_cfg(variant, *opts, r50=r50))
    model.copy_student_to_teacher()
    return model.train()
