"""Continual pre-training: a new DeCon run starts from ``MODEL.WEIGHTS`` of any accepted layout.

``load_initial_weights(model, cfg)`` reads the file with ``decon_d2.weights.read_weights`` (any
layout, with its record and input conventions), maps it onto the **student** and then copies the
student into the teacher (``copy_student_to_teacher``, the fresh-run rule), so both start from
the same weights. Names go through the converter's key rules in the other direction
(``decon_d2.weights.classify``: torchvision -> Detectron2 ResNet names, the authors'
``encoder_*``/``decoder_*``, our ``<branch>.backbone.*``, Detectron2 names; back to our names by
``decon_d2.weights.pretrain_key``); no second rule set. What loads:

- the encoder (every ResNet key; only norm statistics may be absent, e.g. Caffe2's affine-only
  BN, and then start at 0 / 1), from every layout;
- the FPN where the file has one (ours, the authors', a converted ``.pkl``), module by module
  for the levels this model builds;
- the heads (projectors, prototypes, predictors, centers) from a decon-d2 checkpoint, by name,
  where the shapes agree (a new K or width leaves that head fresh, with the reason).

Two-branch files (ours, the authors') start from ``MODEL.DECON.INIT_BRANCH``; by default the
network the converter exports (the teacher; the student of DenseCL checkpoints; docs/method.md
D5, D8, D9); student-only heads (predictor, center) come from the file's student. DenseCL's
negative-key queues are not carried over: they hold keys of the old run's encoder, so the new
run starts them fresh (reported as dropped). A file from which no encoder key loads, a missing or
mis-shaped encoder key, an unknown key or input conventions the config does not share is an
error (``InitialWeightsError``), never a random start. The report (``InitReport``) lists what
loaded, what was dropped and why, and what starts fresh.
"""
import re
from typing import Dict

import torch

from decon_d2.conventions import check_conventions
from decon_d2.weights import classify, pretrain_key, read_weights

from .initial_weights_report import InitialWeightsError, InitReport

__all__ = ["load_initial_weights", "InitialWeightsError", "InitReport"]

_BN_STATS = (".running_mean", ".running_var", ".num_batches_tracked")
_STUDENT = "student."
_QUEUE = re.compile(r"\.queue(_\w+)?$")


def _head_sources(state, branch: str) -> Dict[str, str]:
    """Our layout: ``student.heads.X`` target -> source key (the branch's, else the student's)."""
    out = {}
    for b in ("student", branch):  # the chosen branch overrides where it has the key
        prefix = f"{b}.heads."
        out.update({_STUDENT + "heads." + k[len(prefix):]: k
                    for k in state if k.startswith(prefix)})
    return out


def _plan(weights, branch: str, target: Dict[str, torch.Tensor], report: InitReport
          ) -> Dict[str, str]:
    """``{student target key: source key}``; everything else goes into the report."""
    state, layout = weights.state_dict, weights.layout
    heads = _head_sources(state, branch) if layout == "ours" else {}
    plan: Dict[str, str] = {}
    for key in state:
        if layout == "ours" and ".heads." in key:
            continue
        action = classify(layout, key, branch)
        if action.kind in ("encoder", "decoder"):
            name = pretrain_key(action)
            if name in target:
                plan[name] = key
            elif action.kind == "decoder":
                report.drop("decoder module this model does not build (MODEL.DECON.DECODER_TYPE, "
                            "DECODER_LEVELS)", key)
            else:
                report.not_in_model.append(f"{key} -> {name}")
        elif action.kind == "other_branch":
            report.drop(f"other branch ({action.name}); starting from the {branch}", key)
        elif action.kind == "drop":
            reason = action.name
            if layout == "authors":
                reason += "; the authors' head names are not mapped, heads start fresh"
            report.drop(reason, key)
        else:
            report.unknown.append(key)
    for name, key in heads.items():
        if _QUEUE.search(key):
            report.drop("DenseCL queue (keys of the old encoder): starts fresh", key)
        elif name in target:
            plan[name] = key
        else:
            report.drop("head of a level this model does not train", key)
    used = set(heads.values())
    for key in state:
        if ".heads." in key and layout == "ours" and key not in used:
            report.drop(f"other branch's head; starting from the {branch}", key)
    return plan


def load_initial_weights(model, cfg) -> InitReport:
    """Initialise ``model`` (an unwrapped DeCon) from ``cfg.MODEL.WEIGHTS``; return the report."""
    path, branch = cfg.MODEL.WEIGHTS, cfg.MODEL.DECON.INIT_BRANCH
    if branch not in ("", "teacher", "student"):
        raise InitialWeightsError(f"MODEL.DECON.INIT_BRANCH must be 'teacher', 'student' or '' "
                                  f"(the exported branch), got {branch!r}")
    weights = read_weights(path)
    branch = branch or weights.export_branch or "teacher"
    report = InitReport(path=path, layout=weights.layout, origin=weights.origin,
                        branch=branch if weights.layout in ("ours", "authors") else None,
                        depth=cfg.MODEL.RESNETS.DEPTH)
    target = {k: v for k, v in model.state_dict().items() if k.startswith(_STUDENT)}
    plan = _plan(weights, branch, target, report) if weights.layout else {}
    new_state = {}
    for name, key in plan.items():
        value, want = weights.state_dict[key], target[name]
        if tuple(value.shape) == tuple(want.shape):
            new_state[name] = value.to(want.dtype)
            report.loaded(name, key)
        elif ".heads." in name:
            report.drop("head of another shape (e.g. another K or width); it starts fresh", key)
        else:
            report.bad_shape.append(f"{key} {tuple(value.shape)} vs {name} {tuple(want.shape)}")
    report.check(target, new_state, _BN_STATS, weights.state_dict)
    if weights.conventions is None and weights.layout:
        report.warnings.append("the file records no input conventions: check that INPUT.FORMAT, "
                               "MODEL.PIXEL_MEAN/STD and RESNETS.STRIDE_IN_1X1 match how it was "
                               "trained (Detectron2 model-zoo ResNets are mostly MSRA: BGR, std 1,"
                               " STRIDE_IN_1X1 True)")
    elif weights.conventions:
        has_fpn = any(".fpn_" in k for k in new_state)
        errors, _ = check_conventions(cfg, weights.conventions, has_fpn, depth=None)
        report.errors += errors
    if report.errors:
        raise InitialWeightsError(report.format_table(), report)
    missing, unexpected = model.load_state_dict(new_state, strict=False)
    assert not unexpected, unexpected
    model.copy_student_to_teacher()
    return report
