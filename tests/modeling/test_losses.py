"""SlotCon loss pieces against independent, loop-based formulas (docs/method.md §2.1, §2.2b).

Everything runs in float64 on tiny random tensors, so agreement is checked to 1e-9.
"""
import math

import pytest
import torch
from torch import nn

from decon_d2.modeling.heads.slotcon import SlotConHead
from decon_d2.modeling.heads.slotcon.ops import (
    align_scores,
    presence,
    self_distillation,
    semantic_grouping,
    slot_contrast,
)
from decon_d2.modeling.mlp import SlotPredictor

TOL = dict(rtol=1e-9, atol=1e-9)


@pytest.fixture(autouse=True)
def _float64():
    """float64 for this module only (the default dtype is process-global)."""
    old = torch.get_default_dtype()
    torch.set_default_dtype(torch.float64)
    yield
    torch.set_default_dtype(old)


# ----------------------------------------------------------------------------- references
def ref_grouping(z, protos, temp, eps=1e-6):
    b, d, h, w = z.shape
    k = protos.shape[0]
    scores = torch.zeros(b, k, h, w)
    for bi in range(b):
        for y in range(h):
            for x in range(w):
                v = z[bi, :, y, x]
                for ki in range(k):
                    p = protos[ki]
                    scores[bi, ki, y, x] = (p @ v) / (p.norm() * v.norm())
    slots = torch.zeros(b, k, d)
    for bi in range(b):
        e = torch.exp(scores[bi] / temp)
        attn = e / e.sum(0, keepdim=True) + eps  # softmax over prototypes
        for ki in range(k):
            wsum = attn[ki].sum()
            slots[bi, ki] = (z[bi] * attn[ki]).sum(dim=(1, 2)) / wsum
    return slots, scores


def ref_bilinear(m, y, x):
    """Bilinear sample of a C x H x W map at continuous (y, x), with torchvision RoIAlign's border
    rules: outside [-1, H] x [-1, W] the sample is 0; coordinates <= 0 are clamped to 0; at or
    beyond the last row/column the last row/column is used."""
    _, h, w = m.shape
    if y < -1.0 or y > h or x < -1.0 or x > w:
        return torch.zeros(m.shape[0], dtype=m.dtype)
    y, x = max(y, 0.0), max(x, 0.0)
    y0, x0 = int(math.floor(y)), int(math.floor(x))
    if y0 >= h - 1:
        y0 = y1 = h - 1
        y = float(y0)
    else:
        y1 = y0 + 1
    if x0 >= w - 1:
        x0 = x1 = w - 1
        x = float(x0)
    else:
        x1 = x0 + 1
    ly, lx = y - y0, x - x0
    return ((1 - ly) * (1 - lx) * m[:, y0, x0] + (1 - ly) * lx * m[:, y0, x1]
            + ly * (1 - lx) * m[:, y1, x0] + ly * lx * m[:, y1, x1])


def ref_roi_align(m, box, out_h, out_w):
    """RoIAlign(aligned=True, sampling_ratio=-1) of one C x H x W map, in Python floats.

    ``box``: x1, y1, x2, y2 in pixel units. Each output bin averages a grid of
    ceil(roi_h / out_h) x ceil(roi_w / out_w) bilinear samples at the sub-bin centres; a box with
    non-positive size has an empty grid and gives 0 (count clamped to 1)."""
    x1, y1, x2, y2 = (float(v) - 0.5 for v in box)  # aligned=True: half-pixel offset
    roi_w, roi_h = x2 - x1, y2 - y1
    bin_w, bin_h = roi_w / out_w, roi_h / out_h
    grid_h, grid_w = math.ceil(roi_h / out_h), math.ceil(roi_w / out_w)
    count = max(grid_h * grid_w, 1)
    out = torch.zeros(m.shape[0], out_h, out_w, dtype=m.dtype)
    for ph in range(out_h):
        for pw in range(out_w):
            acc = torch.zeros(m.shape[0], dtype=m.dtype)
            for iy in range(grid_h):  # range(n <= 0) is empty
                y = y1 + ph * bin_h + (iy + 0.5) * bin_h / grid_h
                for ix in range(grid_w):
                    x = x1 + pw * bin_w + (ix + 0.5) * bin_w / grid_w
                    acc = acc + ref_bilinear(m, y, x)
            out[:, ph, pw] = acc / count
    return out


def ref_align(scores, boxes, flips):
    """Crop each map to its normalised box, resize to H x W (RoIAlign), mirror when flipped."""
    b, k, h, w = scores.shape
    out = torch.zeros_like(scores)
    for bi in range(b):
        nx1, ny1, nx2, ny2 = (float(v) for v in boxes[bi])
        out[bi] = ref_roi_align(scores[bi], (nx1 * w, ny1 * h, nx2 * w, ny2 * h), h, w)
        if bool(flips[bi]):
            out[bi] = out[bi][:, :, [w - 1 - j for j in range(w)]]
    return out


def ref_self_distill(s, t, c, ts, tt):
    b, k, h, w = s.shape
    total, n = 0.0, 0
    for bi in range(b):
        for y in range(h):
            for x in range(w):
                sv, tv = s[bi, :, y, x], t[bi, :, y, x]
                pt = torch.exp((tv - c[0]) / tt)
                pt = pt / pt.sum()
                ls = sv / ts - torch.log(torch.exp(sv / ts).sum())
                total += float(-(pt * ls).sum())
                n += 1
    return total / n


def ref_contrast(q_slots, k_slots, q_scores, k_scores, predictor, temp):
    b, k, d = q_slots.shape
    present = lambda a, bi, ki: bool((a[bi].flatten(1).argmax(0) == ki).any())  # noqa: E731
    queries, qpos = [], []
    for bi in range(b):
        for ki in range(k):
            if present(q_scores, bi, ki) and present(k_scores, bi, ki):
                queries.append(q_slots[bi, ki])
                qpos.append((bi, ki))
    keys, kpos = [], []
    for bi in range(b):
        for ki in range(k):
            if present(k_scores, bi, ki):
                v = k_slots[bi, ki]
                keys.append(v / v.norm())
                kpos.append((bi, ki))
    with torch.no_grad():
        preds = predictor(torch.stack(queries))
    total = 0.0
    for i, pos in enumerate(qpos):
        p = preds[i] / preds[i].norm()
        logits = torch.stack([p @ key for key in keys]) / temp
        j = kpos.index(pos)
        total += (torch.log(torch.exp(logits).sum()) - logits[j]).item()
    return total / len(queries) * 2 * temp


# ----------------------------------------------------------------------------- tests
def test_grouping_matches_formula():
    g = torch.Generator().manual_seed(0)
    z, protos = torch.randn(2, 5, 3, 4, generator=g), torch.randn(6, 5, generator=g)
    slots, scores = semantic_grouping(z, protos, 0.07)
    r_slots, r_scores = ref_grouping(z, protos, 0.07)
    torch.testing.assert_close(scores, r_scores, **TOL)
    torch.testing.assert_close(slots, r_slots, **TOL)


@pytest.mark.parametrize("flip", [False, True])
def test_align_matches_formula(flip):
    g = torch.Generator().manual_seed(1)
    scores = torch.randn(2, 3, 6, 5, generator=g)
    boxes = torch.tensor([[0.1, 0.2, 0.7, 0.9], [0.3, 0.0, 1.0, 0.5]])
    flips = torch.tensor([flip, not flip])
    torch.testing.assert_close(align_scores(scores, boxes, flips),
                               ref_align(scores, boxes, flips), **TOL)


# Boxes (x1, y1, x2, y2, normalised): inside the map, touching each edge, the whole view,
# thin ones, and a non-overlap (x2 < x1). Each is tried unflipped and flipped.
ALIGN_BOXES = [
    [0.1, 0.2, 0.7, 0.9],
    [0.0, 0.0, 1.0, 1.0],
    [0.0, 0.35, 0.45, 1.0],
    [0.55, 0.0, 1.0, 0.6],
    [0.23, 0.41, 0.31, 0.52],
    [0.0, 0.0, 0.05, 0.9],
    [0.95, 0.1, 1.0, 1.0],
    [0.7, 0.2, 0.3, 0.8],  # x2 < x1: the crops do not overlap
]


@pytest.mark.parametrize("hw", [(7, 7), (12, 10)], ids=["7x7", "12x10"])
@pytest.mark.parametrize("flip", [False, True], ids=["unflipped", "flipped"])
def test_align_matches_roi_align_loop_reference(hw, flip):
    """align_scores against torchvision's RoIAlign definition written out as loops (float64)."""
    h, w = hw
    g = torch.Generator().manual_seed(11 + h + w)
    boxes = torch.tensor(ALIGN_BOXES, dtype=torch.float64)
    corners = torch.rand(3, 2, 2, generator=g, dtype=torch.float64).sort(dim=1).values
    boxes = torch.cat([boxes, corners.reshape(3, 4)])  # + random boxes: (x1, y1) < (x2, y2)
    scores = torch.randn(len(boxes), 3, h, w, generator=g, dtype=torch.float64)
    flips = torch.full((len(boxes),), flip)
    got = align_scores(scores, boxes, flips)
    assert got.dtype == torch.float64 and got.shape == scores.shape
    torch.testing.assert_close(got, ref_align(scores, boxes, flips), rtol=1e-10, atol=1e-10)
    # The non-overlap box gives an all-zero map; every other box a non-trivial one.
    assert torch.count_nonzero(got[7]) == 0
    assert all(torch.count_nonzero(got[i]) > 0 for i in range(len(boxes)) if i != 7)
    # The whole view, unflipped, is its own overlap: alignment is the identity.
    if not flip:
        torch.testing.assert_close(got[1], scores[1], rtol=1e-10, atol=1e-10)
    else:
        torch.testing.assert_close(got[1], scores[1].flip(-1), rtol=1e-10, atol=1e-10)


def test_flipped_view_aligns_to_unflipped():
    """View 2 is view 1 mirrored; its box is the mirrored box. Aligned maps must agree."""
    m = torch.randn(2, 4, 8, 6)
    box = torch.tensor([[0.1, 0.25, 0.6, 0.9], [0.35, 0.0, 0.95, 0.55]])
    mirrored = torch.stack([1 - box[:, 2], box[:, 1], 1 - box[:, 0], box[:, 3]], dim=1)
    a1 = align_scores(m, box, torch.tensor([False, False]))
    a2 = align_scores(m.flip(-1), mirrored, torch.tensor([True, True]))
    torch.testing.assert_close(a1, a2, **TOL)


def test_self_distillation_matches_formula():
    g = torch.Generator().manual_seed(2)
    s, t = torch.randn(2, 5, 3, 3, generator=g), torch.randn(2, 5, 3, 3, generator=g)
    c = torch.randn(1, 5, generator=g) * 0.1
    got = self_distillation(s, t, c, 0.1, 0.07)
    assert got.item() == pytest.approx(ref_self_distill(s, t, c, 0.1, 0.07), rel=1e-9)


def test_non_overlapping_crops_give_zero_maps_and_log_k():
    scores = torch.randn(2, 8, 4, 4)
    no_overlap = torch.tensor([[0.7, 0.2, 0.3, 0.8]] * 2)  # x2 < x1
    aligned = align_scores(scores, no_overlap, torch.tensor([False, True]))
    assert torch.count_nonzero(aligned) == 0
    sd = self_distillation(aligned, torch.randn(2, 8, 4, 4), torch.zeros(1, 8), 0.1, 0.07)
    assert sd.item() == pytest.approx(math.log(8), rel=1e-12)


def _slots_and_scores(seed, b=3, k=6, d=5, hw=3):
    g = torch.Generator().manual_seed(seed)
    return (torch.randn(b, k, d, generator=g), torch.randn(b, k, d, generator=g),
            torch.randn(b, k, hw, hw, generator=g), torch.randn(b, k, hw, hw, generator=g))


def test_contrast_matches_formula():
    q, kk, sq, sk = _slots_and_scores(3)
    pred = nn.Linear(5, 5)
    got, skipped = slot_contrast(q, kk, presence(sq), presence(sk), pred, 0.2)
    assert not skipped
    assert got.item() == pytest.approx(ref_contrast(q, kk, sq, sk, pred, 0.2), rel=1e-9)


def test_contrast_predictor_norm_sees_only_selected_queries():
    """With a BatchNorm predictor the result equals the formula applied to the selected rows."""
    q, kk, sq, sk = _slots_and_scores(4, b=4, hw=4)
    pred = SlotPredictor(5, 7, 5, "BN").train()
    seen = []
    pred.register_forward_hook(lambda m, i, o: seen.append(i[0].shape[0]))
    got, _ = slot_contrast(q, kk, presence(sq), presence(sk), pred, 0.2)
    n_sel = int((presence(sq) & presence(sk)).sum())
    assert seen == [n_sel] and n_sel < q.shape[0] * q.shape[1]
    assert got.item() == pytest.approx(ref_contrast(q, kk, sq, sk, pred, 0.2), rel=1e-9)


@pytest.mark.parametrize("survivors", [0, 1])
def test_contrast_with_fewer_than_two_queries_is_a_connected_zero(survivors):
    q, kk, sq, sk = _slots_and_scores(5, b=1, k=4, hw=1)  # 1 pixel: one present prototype
    q.requires_grad_(True)
    pred = SlotPredictor(5, 7, 5, "BN").train()  # BatchNorm would raise on a single row
    qp, kp = presence(sq), presence(sk)
    if survivors == 0:
        kp = ~qp & torch.ones_like(qp)  # teacher present exactly where the student is not
    else:
        kp = qp.clone()
    assert int((qp & kp).sum()) == survivors
    loss, skipped = slot_contrast(q, kk, qp, kp, pred, 0.2)
    assert skipped and loss.item() == 0.0 and torch.isfinite(loss)
    loss.backward()
    assert q.grad is not None and all(p.grad is not None for p in pred.parameters())


def test_head_forward_matches_composed_formulas():
    torch.manual_seed(0)
    head = SlotConHead(in_channels=6, proj_hidden_dim=8, out_dim=5, pred_hidden_dim=8,
                       num_prototypes=4, teacher_temp=0.07, student_temp=0.1, contrast_temp=0.2,
                       group_loss_weight=0.3, center_momentum=0.9, norm="BN", pred_norm="BN")
    head.center.normal_(0, 0.05)
    center0 = head.center.clone()
    teacher = head.make_teacher()
    with torch.no_grad():  # make the twin differ from the student
        for p in teacher.parameters():
            p.add_(torch.randn_like(p) * 0.05)
    g = torch.Generator().manual_seed(9)
    xs = [torch.randn(3, 6, 4, 4, generator=g) for _ in range(2)]
    ys = [torch.randn(3, 6, 4, 4, generator=g) for _ in range(2)]
    boxes = [torch.tensor([[0.1, 0.1, 0.9, 0.8]] * 3), torch.tensor([[0.0, 0.2, 0.7, 1.0]] * 3)]
    flips = [torch.tensor([True, False, True]), torch.tensor([False, False, True])]

    ref = {}
    with torch.no_grad():
        s = [ref_grouping(head.projector(x), head.prototypes.weight, 0.07) for x in xs]
        t = [ref_grouping(teacher.projector(y), teacher.prototypes.weight, 0.07) for y in ys]
        sa = [ref_align(s[i][1], boxes[i], flips[i]) for i in (0, 1)]
        ta = [ref_align(t[i][1], boxes[i], flips[i]) for i in (0, 1)]
        ref["group"] = sum(ref_self_distill(sa[i], ta[1 - i], center0, 0.1, 0.07) for i in (0, 1))
        ref["contrast"] = sum(ref_contrast(s[i][0], t[1 - i][0], s[i][1], t[1 - i][1],
                                           head.predictor, 0.2) for i in (0, 1))
        raw_t = torch.cat([t[0][1], t[1][1]])
        ref_center = 0.9 * center0 + 0.1 * raw_t.mean(dim=(0, 2, 3))[None]

    losses, logs = head(xs, ys, teacher, boxes, flips)
    assert logs["group"].item() == pytest.approx(ref["group"], rel=1e-9)
    assert logs["contrast"].item() == pytest.approx(ref["contrast"], rel=1e-9)
    assert losses["group"].item() == pytest.approx(0.3 * ref["group"], rel=1e-9)
    assert losses["contrast"].item() == pytest.approx(0.7 * ref["contrast"], rel=1e-9)
    torch.testing.assert_close(head.center, ref_center, **TOL)
    assert not hasattr(teacher, "predictor") and "center" not in dict(teacher.named_buffers())


def test_grouping_maths_stay_fp32_under_bf16_autocast():
    """Under autocast the cosine scores and slots are computed in fp32 from the (bf16) projected
    map: equal to the fp32 computation on the same rounded input, not bf16-rounded themselves."""
    from decon_d2.modeling.heads.slotcon.ops import semantic_grouping

    torch.manual_seed(0)
    z = torch.randn(2, 16, 5, 5, dtype=torch.float32).bfloat16()
    protos = torch.randn(8, 16, dtype=torch.float32)
    ref_slots, ref_scores = semantic_grouping(z.float(), protos, 0.07)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        assert (protos @ protos.t()).dtype == torch.bfloat16  # autocast is really active here
        slots, scores = semantic_grouping(z, protos, 0.07)
    assert scores.dtype == torch.float32 and slots.dtype == torch.float32
    torch.testing.assert_close(scores, ref_scores, rtol=0, atol=1e-6)
    torch.testing.assert_close(slots, ref_slots, rtol=0, atol=1e-5)


def test_decon_fcn_total_loss_matches_loop_formula():
    """DeCon-FCN (docs/method.md §2.2): L = a * L_enc(res5) + (1 - a) * L_dec(fcn), each level the
    loop formulas of §2.1 applied to the student/teacher backbone outputs, the FCN decoder's
    "fcn" map included; a = 0.3 so that the two terms cannot be swapped unnoticed."""
    from tests.helpers import build_instant_model, decon_opts, synthetic_batch

    model = build_instant_model("decon_fcn", *decon_opts(ENCODER_LOSS_WEIGHT=0.3), seed=3)
    assert next(model.parameters()).dtype == torch.float64 and set(model.student.heads) == {
        "res5", "fcn"}
    for head in model.student.heads.values():
        head.center.normal_(0, 0.05)
    centers = {n: h.center.clone() for n, h in model.student.heads.items()}
    batch = synthetic_batch(4, 96, seed=5)
    views, boxes, flips = model.preprocess(batch)
    ref = {}
    with torch.no_grad():  # train-mode norms: batch statistics, as in the forward below
        s_feats = [model.student.backbone(x) for x in views]
        t_feats = [model.teacher.backbone(x) for x in views]
        assert s_feats[0]["fcn"].shape[1:] == (256, 3, 3)  # CONVS_DIM 256 on the 3x3 res5 map
        for name, head in model.student.heads.items():
            twin = model.teacher.heads[name]
            s = [ref_grouping(head.projector(f[name]), head.prototypes.weight, 0.07)
                 for f in s_feats]
            t = [ref_grouping(twin.projector(f[name]), twin.prototypes.weight, 0.07)
                 for f in t_feats]
            sa = [ref_align(s[i][1], boxes[i], flips[i]) for i in (0, 1)]
            ta = [ref_align(t[i][1], boxes[i], flips[i]) for i in (0, 1)]
            ref[name, "group"] = sum(ref_self_distill(sa[i], ta[1 - i], centers[name], 0.1, 0.07)
                                     for i in (0, 1))
            ref[name, "contrast"] = sum(ref_contrast(s[i][0], t[1 - i][0], s[i][1], t[1 - i][1],
                                                     head.predictor, 0.2) for i in (0, 1))
    losses = model(batch)
    a, w = 0.3, 0.5
    for prefix, name, weight in (("enc", "res5", a), ("dec", "fcn", 1 - a)):
        assert losses[f"loss_{prefix}_group"].item() == pytest.approx(
            weight * w * ref[name, "group"], rel=1e-9), name
        assert losses[f"loss_{prefix}_contrast"].item() == pytest.approx(
            weight * (1 - w) * ref[name, "contrast"], rel=1e-9), name
