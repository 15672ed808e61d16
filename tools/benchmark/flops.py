"""``count_flops``: FLOPs of one training step, per component, with ``torch.utils.flop_counter``.

Convention: FLOPs = 2 x multiply-accumulates (the counter's; GMAC figures are half
these). Counted on the real model and batch: the forward (student and teacher, both views, the
loss) is attributed to components by module name; the backward is counted as a whole, because the
counter's module attribution in backward is not reliable (it leaks into unrelated modules). The
"3 x student forward + teacher forward" estimate is printed beside the counted total as a check.
Projector checkpointing is switched off while counting, so these are model FLOPs (what MFU uses),
without recomputation. Norms, activations and element-wise ops count zero (the counter's rule).
"""
import contextlib
from collections import defaultdict

import torch
from detectron2.utils.events import EventStorage
from torch.utils.flop_counter import FlopCounterMode

from decon_d2.engine.step import amp_dtype


def _sum(counts, name):
    return sum(counts.get(name, {}).values())


@contextlib.contextmanager
def _no_checkpointing(model):
    flags = [(h.projector, h.projector.checkpoint)
             for b in (model.student, model.teacher) for h in b.heads.values()]
    for proj, _ in flags:
        proj.checkpoint = False
    try:
        yield
    finally:
        for proj, flag in flags:
            proj.checkpoint = flag


def _components(counts, model, root):
    """{component: {"student": flops, "teacher": flops}} for one counted forward."""
    out = defaultdict(lambda: {"student": 0, "teacher": 0})
    accounted = 0
    for role in ("student", "teacher"):
        bb = f"{root}.{role}.backbone"
        enc = _sum(counts, f"{bb}.bottom_up")
        out["encoder"][role] += enc
        out["fpn"][role] += _sum(counts, bb) - enc
        accounted += _sum(counts, bb)
        for level in getattr(model, role).heads:
            proj = _sum(counts, f"{root}.{role}.heads.{level}.projector")
            out[f"projector {level}"][role] += proj
            accounted += proj
            if role == "student":
                pred = _sum(counts, f"{root}.{role}.heads.{level}.predictor")
                out[f"predictor {level}"][role] += pred
                accounted += pred
    # What no module above owns: grouping einsums, alignment, softmaxes, contrast logits (of
    # both networks, run inside the student heads); listed under the student.
    out["grouping + losses"]["student"] += counts_total(counts) - accounted
    if not out["fpn"]["student"] and not out["fpn"]["teacher"]:
        del out["fpn"]
    return dict(out)


def counts_total(counts):
    return sum(counts.get("Global", {}).values())


def count_flops(cfg, model, batch):
    """FLOPs per image of one training step of ``model`` on ``batch`` (see module doc)."""
    device = torch.device(cfg.MODEL.DEVICE)
    dtype = amp_dtype(cfg)
    n = len(batch)
    with _no_checkpointing(model), EventStorage(0):
        with FlopCounterMode(display=False, depth=None) as fwd:
            with torch.autocast(device.type, dtype=dtype, enabled=dtype is not None):
                loss = sum(v.float() for v in model(batch).values())
        with FlopCounterMode(display=False, depth=None) as bwd:
            loss.backward()
    model.zero_grad(set_to_none=True)
    counts = fwd.get_flop_counts()
    comps = _components(counts, model, type(model).__name__)
    per_img = {k: {r: v / n for r, v in d.items()} for k, d in comps.items()}
    s_fwd = sum(d["student"] for d in per_img.values())
    t_fwd = sum(d["teacher"] for d in per_img.values())
    b = bwd.get_total_flops() / n
    return {
        "components": per_img,
        "forward_student": s_fwd,
        "forward_teacher": t_fwd,
        "backward": b,
        "step": s_fwd + t_fwd + b,
        "step_3x_estimate": 3 * s_fwd + t_fwd,
        "per": "image (both views)",
        "unit": "FLOP (2 per MAC)",
    }
