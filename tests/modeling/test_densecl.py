"""DenseCL's loss terms against loop formulas in float64, its queues, and the DenseCL head inside
the DeCon model (views, gradients, memory options), docs/method.md §2.3-2.4."""
import math

import pytest
import torch
import torch.nn.functional as F
from detectron2.modeling import build_model

from decon_d2.modeling.heads import DenseCLHead
from decon_d2.modeling.heads.densecl.ops import (
    dense_correspondence, enqueue_, gather_positives, info_nce,
)
from tests.helpers import build_instant_model, synthetic_batch

T = 0.2


def _unit(v):
    norm = math.sqrt(sum(float(x) ** 2 for x in v))
    return [float(x) / norm for x in v]


def _dot(a, b):
    return sum(float(x) * float(y) for x, y in zip(a, b))


def _nce_loop(q_rows, k_rows, queue, temp):
    """mean_i -log( e^{q_i.k_i/T} / (e^{q_i.k_i/T} + sum_j e^{q_i.n_j/T}) ), one scalar at a time."""
    total = 0.0
    for q, k in zip(q_rows, k_rows):
        pos = math.exp(_dot(q, k) / temp)
        neg = sum(math.exp(_dot(q, n) / temp) for n in queue)
        total += -math.log(pos / (pos + neg))
    return total / len(q_rows)


def _rand_unit(*shape, seed=0):
    g = torch.Generator().manual_seed(seed)
    return F.normalize(torch.randn(*shape, generator=g, dtype=torch.float64), dim=-1)


@pytest.mark.parametrize("chunk", [0, 3])
def test_info_nce_matches_loop_formula_and_chunks_change_nothing(chunk):
    q = _rand_unit(7, 5, seed=1).requires_grad_()
    k, queue = _rand_unit(7, 5, seed=2), _rand_unit(11, 5, seed=3)
    loss = info_nce(q, k, queue, T, chunk_rows=chunk)
    assert loss.item() == pytest.approx(_nce_loop(q.tolist(), k.tolist(), queue.tolist(), T),
                                        rel=1e-12)
    (grad,) = torch.autograd.grad(loss, q)
    # d/dq_i = (sum_j p_ij n_j + p_i+ k_i - k_i) / (N T), p = softmax over [k_i, queue]
    keys = torch.cat([k[:, None], queue.expand(7, -1, -1)], dim=1)          # N x (1+K) x D
    p = torch.softmax(torch.einsum("nd,nkd->nk", q.detach(), keys) / T, dim=1)
    expected = (torch.einsum("nk,nkd->nd", p, keys) - k) / (7 * T)
    torch.testing.assert_close(grad, expected, rtol=1e-10, atol=1e-12)


def test_dense_correspondence_is_the_argmax_of_backbone_cosines():
    g = torch.Generator().manual_seed(0)
    fq = torch.randn(2, 6, 3, 4, generator=g, dtype=torch.float64)
    fk = torch.randn(2, 6, 3, 4, generator=g, dtype=torch.float64) * 5.0  # norms matter not
    index = dense_correspondence(fq, fk)
    assert index.shape == (2, 12)
    for b in range(2):
        q, k = fq[b].flatten(1).T.tolist(), fk[b].flatten(1).T.tolist()
        for i in range(12):
            cos = [_dot(_unit(q[i]), _unit(k[j])) for j in range(12)]
            assert index[b, i].item() == max(range(12), key=cos.__getitem__)
    k_grid = torch.randn(2, 5, 12, generator=g, dtype=torch.float64)
    pos = gather_positives(k_grid, index)
    for b in range(2):
        for i in range(12):
            torch.testing.assert_close(pos[b, :, i], k_grid[b, :, index[b, i]])


@pytest.mark.parametrize("k,start,m", [(7, 0, 2), (7, 6, 3), (5, 3, 12), (4, 0, 4)])
def test_enqueue_is_a_ring_buffer(k, start, m):
    """Key j of the stream lands in row (start + j) % K, later keys win, K need not divide M."""
    queue = torch.zeros(k, 2, dtype=torch.float64)
    keys = torch.arange(1, m + 1, dtype=torch.float64)[:, None].repeat(1, 2)
    expected = queue.clone()
    for j in range(m):
        expected[(start + j) % k] = keys[j]
    assert enqueue_(queue, start, keys) == (start + m) % k
    torch.testing.assert_close(queue, expected)


def _head(lam=0.5, chunk=0, seed=0):
    torch.manual_seed(seed)
    head = DenseCLHead(in_channels=6, hidden_dim=8, out_dim=5, queue_length=7, temperature=T,
                       loss_lambda=lam, loss_chunk_rows=chunk).double().train()
    teacher = head.make_teacher().double()
    with torch.no_grad():  # a teacher that differs from the student, as after EMA steps
        for p in teacher.parameters():
            p.add_(0.1 * torch.randn_like(p))
    return head, teacher


def test_head_forward_matches_composed_loop_formulas_and_enqueues_the_keys():
    head, teacher = _head()
    g = torch.Generator().manual_seed(5)
    xq = torch.randn(2, 6, 3, 3, generator=g, dtype=torch.float64)   # view 1, student
    xk = torch.randn(2, 6, 3, 3, generator=g, dtype=torch.float64)   # view 2, teacher
    queues = [head.queue_global.clone(), head.queue_dense.clone()]
    losses, logs = head([xq, None], [None, xk], teacher, boxes=None, flips=None)

    gq, dq = head.projector(xq)
    with torch.no_grad():
        gk, dk = teacher.projector(xk)
    rows = lambda m: [_unit(v) for v in m.tolist()]  # noqa: E731
    l_global = _nce_loop(rows(gq), rows(gk), queues[0].tolist(), T)
    q_cells, k_cells, qb, kb = [], [], xq.flatten(2), xk.flatten(2)
    for b in range(2):
        for i in range(9):
            cos = [_dot(_unit(qb[b, :, i].tolist()), _unit(kb[b, :, j].tolist())) for j in range(9)]
            j_star = max(range(9), key=cos.__getitem__)
            q_cells.append(_unit(dq.flatten(2)[b, :, i].tolist()))
            k_cells.append(_unit(dk.flatten(2)[b, :, j_star].tolist()))
    l_dense = _nce_loop(q_cells, k_cells, queues[1].tolist(), T)
    assert logs["global"].item() == pytest.approx(l_global, rel=1e-10)
    assert logs["dense"].item() == pytest.approx(l_dense, rel=1e-10)
    assert losses["global"].item() == pytest.approx(0.5 * l_global, rel=1e-10)
    assert losses["dense"].item() == pytest.approx(0.5 * l_dense, rel=1e-10)

    # After the loss: rows 0, 1 hold the teacher's global keys and its pooled dense keys.
    torch.testing.assert_close(head.queue_global[:2], F.normalize(gk, dim=1))
    torch.testing.assert_close(head.queue_dense[:2], F.normalize(dk.mean(dim=(2, 3)), dim=1))
    torch.testing.assert_close(head.queue_global[2:], queues[0][2:])
    assert head.queue_ptr.item() == 2


def test_lambda_warmup_and_eval_mode():
    head, teacher = _head(lam=0.3)
    x = torch.randn(2, 6, 3, 3, dtype=torch.float64)
    head.dense_warmup = True
    losses, logs = head([x, None], [None, x], teacher, None, None)
    assert losses["dense"].item() == 0.0 and logs["dense"].item() > 0
    assert losses["global"].item() == pytest.approx(logs["global"].item())
    head.dense_warmup = False
    head.eval()
    before = head.queue_global.clone()
    losses, logs = head([x, None], [None, x], teacher, None, None)
    assert losses["dense"].item() == pytest.approx(0.3 * logs["dense"].item())
    torch.testing.assert_close(head.queue_global, before)  # no enqueue outside training
    assert head.queue_ptr.item() == 2  # one training forward above


def _densecl(variant, *opts):
    return build_instant_model(variant, *opts)


def test_student_runs_view_1_and_teacher_view_2_only():
    model = _densecl("decon_densecl_sl")
    calls = {"student": [], "teacher": []}
    for role in calls:
        getattr(model, role).backbone.register_forward_hook(
            lambda m, i, o, role=role: calls[role].append(i[0]))
    batch = synthetic_batch(2, 64)
    model(batch)
    views, _, _ = model.preprocess(batch)
    assert len(calls["student"]) == len(calls["teacher"]) == 1
    torch.testing.assert_close(calls["student"][0], views[0])
    torch.testing.assert_close(calls["teacher"][0], views[1])
    assert model.export_branch == "student"
    assert build_instant_model("decon_sl").export_branch == "teacher"


def test_every_student_parameter_gets_a_gradient_and_no_teacher_one():
    """DDP without find_unused_parameters needs a gradient for every trainable parameter."""
    model = _densecl("decon_densecl_ml")
    sum(model(synthetic_batch(2, 64)).values()).backward()
    missing = [n for n, p in model.student.named_parameters()
               if p.requires_grad and p.grad is None]
    assert not missing, missing
    assert all(p.grad is None for p in model.teacher.parameters())
    keys = model.state_dict().keys()
    for level in ("res5", "p2", "p3", "p4", "p5"):
        assert f"student.heads.{level}.queue_dense" in keys
        assert f"teacher.heads.{level}.projector.dense_mlp.0.weight" in keys
    assert not any(k.startswith("teacher.") and "queue" in k for k in keys)


def test_memory_options_change_nothing_but_memory():
    """Chunked InfoNCE and checkpointed decoder necks: same losses, gradients and queues."""
    results = []
    for opts in ([], ["MODEL.DECON.DENSECL.LOSS_CHUNK_ROWS", 5,
                      "MODEL.DECON.DENSECL.DEC_PROJ_CHECKPOINT", True]):
        model = _densecl("decon_densecl_sl", *opts).double()
        torch.manual_seed(1)
        losses = model(synthetic_batch(2, 64))
        sum(losses.values()).backward()
        grads = {n: p.grad.clone() for n, p in model.student.named_parameters()}
        results.append((losses, grads, model.state_dict()))
    (l0, g0, s0), (l1, g1, s1) = results
    assert model.student.heads["p2"].projector.checkpoint
    assert not model.student.heads["res5"].projector.checkpoint  # decoder necks only
    for k in l0:
        assert l1[k].item() == pytest.approx(l0[k].item(), rel=1e-12), k
    for k in g0:
        torch.testing.assert_close(g1[k], g0[k], rtol=1e-9, atol=1e-12, msg=k)
    for k in s0:
        torch.testing.assert_close(s1[k], s0[k], rtol=0, atol=0, msg=k)


def test_densecl_recipe_switches():
    from decon_d2.data import TwoViewMapper
    from decon_d2.engine.optimizer import build_optimizer
    from decon_d2.config import build_cfg
    from tools.paths import config_path

    cfg = build_cfg(config_path("densecl_pretrain.yaml"),
                    ["MODEL.DEVICE", "cpu", "MODEL.RESNETS.DEPTH", 18,
                     "MODEL.RESNETS.RES2_OUT_CHANNELS", 64])
    model = build_model(cfg)
    h = model.student.heads["res5"]
    assert (h.queue_global.shape, h.temperature, h.loss_lambda) == ((65536, 128), 0.2, 0.5)
    assert model.teacher_batch_shuffle
    last = model.student.backbone.bottom_up.res2[0].conv2.norm.weight  # BasicBlock (R18)
    assert torch.all(last == 1)  # DenseCL: no zero-init of the last BN gamma
    opt = build_optimizer(cfg, model)
    assert [g["weight_decay"] for g in opt.param_groups] == [1e-4, 1e-4]
    assert type(opt).__name__ == "SGD" and opt.param_groups[0]["momentum"] == 0.9
    # MoCo v2: both views alike, independent crops (view 2 is drawn once), no solarisation.
    mapper = TwoViewMapper(cfg)
    draws = []
    sample = mapper.sample_crop
    mapper.sample_crop = lambda image: draws.append(1) or sample(image)
    from PIL import Image
    mapper.sample_crops(Image.new("RGB", (300, 200)))
    assert len(draws) == 2
    chains = [[type(t).__name__ for t in c.transforms] for c in mapper.photometric]
    assert chains[0] == chains[1] == ["RandomApply", "RandomGrayscale", "RandomApply"]
    assert [c.transforms[2].p for c in mapper.photometric] == [0.5, 0.5]
