"""What is benchmarked: a ``Case`` (variant + dials), its config, model and synthetic batch.

The config is the real one (``configs/<variant>.yaml`` through ``decon_d2.config.build_cfg``), so
the benchmark measures what training builds; only batch, crop, device and precision are overridden,
plus the cost dials a case names. The batch is synthetic (random uint8 views, fixed overlap boxes)
so that data loading and augmentation are excluded from the step time.
"""
import dataclasses
import os
from typing import List, Optional

import torch
from detectron2.modeling import build_model

from decon_d2.config import build_cfg
from tools.paths import REPO_ROOT, config_path
from decon_d2.variants import VARIANTS, get_variant

#: DenseCL cases state both memory options themselves (off unless named), whatever the config says
DENSECL_VARIANTS = tuple(n for n, v in VARIANTS.items() if v.head == "DenseCLHead")
#: the heads whose options this file knows (SlotCon's dials, DenseCL's chunking)
OPTION_HEADS = ("SlotConHead", "DenseCLHead")
PRECISIONS = {"fp32": None, "bf16": "bfloat16", "fp16": "float16"}
#: what the case option ``mem`` switches on (docs/benchmarks.md, memory)
MEMORY_OPTIONS = ("recompute", "bbckpt")


@dataclasses.dataclass
class Case:
    """One row of the table: a variant and the dials applied to it (all off = faithful)."""

    variant: str
    dec_proj_hidden: int = 0           # MODEL.DECON.SLOTCON.DEC_PROJ_HIDDEN_DIM (0 = faithful)
    decoder_levels: Optional[List[str]] = None   # MODEL.DECON.DECODER_LEVELS (None = variant's)
    checkpoint_projectors: bool = False  # MODEL.DECON.{SLOTCON,DENSECL}.DEC_PROJ_CHECKPOINT
    chunk_rows: int = 0                # MODEL.DECON.DENSECL.LOSS_CHUNK_ROWS (DenseCL cases)
    channels_last: bool = False        # model (hence conv activations) in channels_last
    compile: bool = False              # torch.compile of every projector (in place)
    conv_projectors: bool = False      # MODEL.DECON.SLOTCON.PROJ_IMPL "conv" (the reference)
    recompute: bool = False            # MODEL.DECON.SLOTCON.PROJ_RECOMPUTE_NORM_ACT
    backbone_recompute: bool = False   # MODEL.DECON.BACKBONE_RECOMPUTE
    precision: Optional[str] = None    # autocast of this case (None = the run's --precision)

    @property
    def label(self):
        parts = [self.variant]  # the case spec parse_case reads back
        if self.dec_proj_hidden:
            parts.append(f"hid{self.dec_proj_hidden}")
        if self.decoder_levels:
            parts.append("levels=" + ",".join(self.decoder_levels))
        if self.chunk_rows:
            parts.append(f"chunk{self.chunk_rows}")
        parts += [n for n, on in (("ckpt", self.checkpoint_projectors), ("cl", self.channels_last),
                                  ("compile", self.compile), ("conv", self.conv_projectors),
                                  ("recompute", self.recompute),
                                  ("bbckpt", self.backbone_recompute)) if on]
        return "+".join(parts + ([self.precision] if self.precision else []))

    def overrides(self):
        if self.variant in DENSECL_VARIANTS:
            return ["MODEL.DECON.DENSECL.DEC_PROJ_CHECKPOINT", self.checkpoint_projectors,
                    "MODEL.DECON.DENSECL.LOSS_CHUNK_ROWS", self.chunk_rows,
                    "MODEL.DECON.BACKBONE_RECOMPUTE", self.backbone_recompute]
        o = []
        if self.dec_proj_hidden:
            o += ["MODEL.DECON.SLOTCON.DEC_PROJ_HIDDEN_DIM", self.dec_proj_hidden]
        if self.decoder_levels:
            o += ["MODEL.DECON.DECODER_LEVELS", list(self.decoder_levels)]
        if self.checkpoint_projectors:
            o += ["MODEL.DECON.SLOTCON.DEC_PROJ_CHECKPOINT", True]
        if self.conv_projectors:
            o += ["MODEL.DECON.SLOTCON.PROJ_IMPL", "conv"]
        if self.recompute:
            o += ["MODEL.DECON.SLOTCON.PROJ_RECOMPUTE_NORM_ACT", True]
        if self.backbone_recompute:
            o += ["MODEL.DECON.BACKBONE_RECOMPUTE", True]
        return o


def parse_case(spec):
    """``variant[+option...]``, options: ``hid<N>``, ``levels=p3,p4`` (SlotCon cases),
    ``chunk<N>`` (DenseCL cases), ``ckpt``, ``cl``, ``compile``, ``conv``, ``recompute``,
    ``bbckpt``, ``mem`` (= ``MEMORY_OPTIONS``), a precision (``fp32``, ``bf16``, ``fp16``); e.g.
    ``decon_ml+hid1024+ckpt``, ``decon_ml+bf16``, ``decon_densecl_ml+chunk4096+ckpt``."""
    variant, *opts = spec.split("+")
    try:
        variant = get_variant(variant).name  # an alias (encoder_only) names its row
    except KeyError as e:
        raise ValueError(f"{e.args[0]} (in case {spec!r})") from None
    case = Case(variant)
    flags = {"ckpt": "checkpoint_projectors", "cl": "channels_last", "compile": "compile",
             "conv": "conv_projectors", "recompute": "recompute", "bbckpt": "backbone_recompute"}
    for o in opts:
        if o == "mem":
            for m in MEMORY_OPTIONS:
                setattr(case, flags[m], True)
        elif o in PRECISIONS:
            case.precision = o
        elif o in flags:
            setattr(case, flags[o], True)
        elif o.startswith("hid") and o[3:].isdigit():
            case.dec_proj_hidden = int(o[3:])
        elif o.startswith("levels="):
            case.decoder_levels = o[len("levels="):].split(",")
        elif o.startswith("chunk") and o[5:].isdigit():
            case.chunk_rows = int(o[5:])
        else:
            raise ValueError(f"unknown option {o!r} in {spec!r}")
    head = VARIANTS[variant].head
    if head not in OPTION_HEADS:  # a third head's cost options are not these: no silent default
        raise ValueError(f"{spec!r}: the benchmark knows the cost options of {OPTION_HEADS}, "
                         f"not those of {head}")
    dense = variant in DENSECL_VARIANTS
    slotcon_only = case.dec_proj_hidden or case.decoder_levels or case.conv_projectors or \
        case.recompute
    if slotcon_only if dense else case.chunk_rows:
        raise ValueError(f"{spec!r}: hid<N>, levels=, conv, recompute (and mem) are SlotCon "
                         "options, chunk<N> a DenseCL one")
    return case


def bench_cfg(case, *, crop, batch, device, precision, opts=(), config_dir=None,
              instant_test=False):
    """The variant's real pre-training config (``instant_test``: its tiny twin in
    configs/quick_schedules/, for smoke runs) with the benchmark's overrides (frozen)."""
    if instant_test:
        path = config_path(get_variant(case.variant).instant_test)
    else:
        path = os.path.join(config_dir or str(REPO_ROOT / "configs"),
                            get_variant(case.variant).pretrain)
    amp = PRECISIONS[case.precision or precision]
    overrides = [
        "MODEL.DEVICE", device,
        "INPUT.DECON.CROP_SIZE", crop,
        "SOLVER.IMS_PER_BATCH", batch,
        "SOLVER.AMP.ENABLED", amp is not None,
        "SOLVER.AMP.PRECISION", amp or "float16",
        "SOLVER.DECON.EPOCHS", 0,
        "SOLVER.MAX_ITER", 1000,
    ] + case.overrides() + list(opts)
    return build_cfg(path, overrides)


def build_bench_model(cfg, case, seed=0):
    """The DeCon model in training mode, teacher = student, in the case's memory format
    (``compile_projectors`` is applied separately, after the FLOP count)."""
    torch.manual_seed(seed)
    model = build_model(cfg)
    model.copy_student_to_teacher()
    if case.channels_last:
        model.to(memory_format=torch.channels_last)  # parameters keep their identity
    return model.train()


def compile_projectors(model):
    """``torch.compile`` every projector in place (state-dict keys unchanged): the dense per-pixel
    MLPs are the one part without data-dependent control flow."""
    for branch in (model.student, model.teacher):
        for head in branch.heads.values():
            head.projector.compile()
