"""Pre-training and fine-tuning configs agree on the input conventions the transfer depends on.

A mismatch (BGR vs RGB, another mean/std, STRIDE_IN_1X1) costs no error in Detectron2 and most
of the AP, so every pre-training config is paired with every fine-tuning config here, and the
converter's/pre-flight's own check (``conventions.check_conventions``) must accept each pair
with the ``decon_meta`` the pre-training run would write into its checkpoints.
"""
import functools
import glob
import os

import pytest

from decon_d2.conventions import check_conventions, pretrain_conventions
from decon_d2.config import build_cfg
from tools.paths import REPO_ROOT

ROOT = str(REPO_ROOT)
CONFIGS = os.path.join(ROOT, "configs")


def _leaves(pattern, recursive=False):
    paths = glob.glob(os.path.join(CONFIGS, pattern), recursive=recursive)
    return sorted(p for p in paths if not os.path.basename(p).startswith("Base-"))


PRETRAIN = (_leaves("*.yaml") + _leaves(os.path.join("demo", "*.yaml"))
            + _leaves(os.path.join("yourdata", "*.yaml")))
FINETUNE = sorted(glob.glob(os.path.join(CONFIGS, "finetune", "**", "*.yaml"), recursive=True))

# docs/model.md "Standard keys a pre-training config must set"; the fine-tune base repeats them.
CONVENTIONS = {
    "INPUT.FORMAT": "RGB",
    "MODEL.PIXEL_MEAN": [123.675, 116.28, 103.53],
    "MODEL.PIXEL_STD": [58.395, 57.12, 57.375],
    "MODEL.RESNETS.STRIDE_IN_1X1": False,
    "MODEL.RESNETS.DEPTH": 50,
}


def _rel(path):
    return os.path.relpath(path, ROOT)


@functools.lru_cache(maxsize=None)
def _cfg(path):
    return build_cfg(path)


def _get(cfg, dotted):
    value = cfg
    for part in dotted.split("."):
        value = getattr(value, part)
    return list(value) if isinstance(value, (list, tuple)) else value


def test_the_config_sets_are_found():
    names = {_rel(p) for p in PRETRAIN}
    assert {"configs/decon_pretrain.yaml", "configs/demo/decon_ml_demo.yaml",
            "configs/slotcon_pretrain_imagenet.yaml"} <= names, names
    assert not any("finetune" in n or "Base-" in n for n in names)
    ft = {_rel(p) for p in FINETUNE}
    assert {"configs/finetune/mask_rcnn_R_50_FPN_1x_decon.yaml",
            "configs/finetune/demo/mask_rcnn_R_50_FPN_demo.yaml"} <= ft, ft
    for path in PRETRAIN:
        assert _cfg(path).MODEL.META_ARCHITECTURE == "DeCon", _rel(path)
    for path in FINETUNE:
        assert _cfg(path).MODEL.META_ARCHITECTURE in ("GeneralizedRCNN",
                                                      "SlidingWindowSegmentor"), _rel(path)


@pytest.mark.parametrize("path", PRETRAIN + FINETUNE, ids=_rel)
def test_input_conventions_agree(path):
    cfg = _cfg(path)
    have = {key: _get(cfg, key) for key in CONVENTIONS}
    assert have == CONVENTIONS, _rel(path)


def _builds_fpn(cfg):
    return "fpn" in cfg.MODEL.BACKBONE.NAME


@pytest.mark.parametrize("path", FINETUNE, ids=_rel)
def test_finetune_protocol_keys(path):
    """Nothing frozen and synchronised BN in backbone and FPN, or in the FCN head that takes the
    pre-trained FCN decoder (the SSL transfer protocol)."""
    cfg = _cfg(path)
    assert cfg.MODEL.BACKBONE.FREEZE_AT == 0
    assert cfg.MODEL.RESNETS.NORM == "SyncBN"
    if _builds_fpn(cfg):
        assert cfg.MODEL.FPN.NORM == "SyncBN"
    if cfg.MODEL.SEM_SEG_HEAD.NAME == "FCNHead":
        assert cfg.MODEL.SEM_SEG_HEAD.NORM == "SyncBN"


@pytest.mark.parametrize("path", PRETRAIN, ids=_rel)
def test_checkpoint_conventions_pass_every_finetune_config(path):
    """What the converter and fine-tuning's pre-flight check accepts every (pre-training,
    fine-tuning) pair, errors and warnings alike."""
    meta = pretrain_conventions(_cfg(path))  # what DeConMeta writes into checkpoints
    problems = {}
    for ft_path in FINETUNE:
        ft = _cfg(ft_path)
        errors, warnings = check_conventions(ft, meta, include_decoder=_builds_fpn(ft))
        if errors or warnings:
            problems[_rel(ft_path)] = errors + warnings
    assert not problems, problems
