"""Schedules equal their formulas; epoch arithmetic; LARS and the optimiser's parameter groups."""

import math

import pytest
import torch

from decon_d2.engine.lars import LARS
from decon_d2.engine.schedules import (
    compute_schedule,
    cosine_momentum,
    warmup_cosine_lr_factor,
    warmup_cosine_param_scheduler,
)


def test_cosine_momentum_formula():
    K, m0 = 1000, 0.99
    for it in (0, 1, 250, 500, 999, 1000):
        expected = 1 - (1 - m0) * (math.cos(math.pi * it / K) + 1) / 2
        assert cosine_momentum(it, K, m0) == pytest.approx(expected, abs=1e-15)
    assert cosine_momentum(0, K, m0) == pytest.approx(0.99)
    assert cosine_momentum(K, K, m0) == pytest.approx(1.0)


def test_warmup_cosine_lr_formula_and_param_scheduler():
    K, W, s, f = 100, 10, 0.01, 1e-6 / 2.0
    assert warmup_cosine_lr_factor(0, K, W, s, f) == pytest.approx(0.01)
    assert warmup_cosine_lr_factor(5, K, W, s, f) == pytest.approx(0.01 + 0.99 * 0.5)
    assert warmup_cosine_lr_factor(W, K, W, s, f) == pytest.approx(1.0)
    mid = W + (K - W) // 2
    assert warmup_cosine_lr_factor(mid, K, W, s, f) == pytest.approx(f + (1 - f) * 0.5)
    assert warmup_cosine_lr_factor(K, K, W, s, f) == pytest.approx(f)
    for k, w in [(K, W), (7, 3), (50, 0), (5, 5)]:
        sched = warmup_cosine_param_scheduler(k, w, s, f)
        for it in range(k + 1):
            assert sched(it / k) == pytest.approx(
                warmup_cosine_lr_factor(it, k, w, s, f), abs=1e-12
            )


def test_lr_multiplier_steps_per_iteration():
    from detectron2.solver.lr_scheduler import LRMultiplier

    p = torch.nn.Parameter(torch.zeros(2))
    opt = torch.optim.SGD([p], lr=2.0)
    K, W = 20, 4
    sched = LRMultiplier(opt, warmup_cosine_param_scheduler(K, W, 0.01, 0.0), max_iter=K)
    for it in range(K):
        assert opt.param_groups[0]["lr"] == pytest.approx(
            2.0 * warmup_cosine_lr_factor(it, K, W, 0.01, 0.0)
        )
        opt.step()
        sched.step()


def test_coco_recipe_arithmetic():
    s = compute_schedule(
        dataset_size=118287,
        global_batch=512,
        world_size=8,
        epochs=800,
        warmup_epochs=5,
        max_iter=0,
        warmup_iters=0,
        base_lr=1.0,
        lr_scaling="linear_256",
    )
    assert (s.iters_per_epoch, s.max_iter, s.warmup_iters) == (231, 184800, 1155)
    assert (s.per_gpu_batch, s.lr) == (64, 2.0)
    assert "231" in s.describe() and "184800" in s.describe()


def test_arithmetic_keeps_max_iter_without_epochs_and_checks_divisibility():
    s = compute_schedule(
        dataset_size=35,
        global_batch=4,
        world_size=1,
        epochs=0,
        warmup_epochs=0,
        max_iter=7,
        warmup_iters=2,
        base_lr=0.5,
        lr_scaling="none",
    )
    assert (s.max_iter, s.warmup_iters, s.lr) == (7, 2, 0.5)
    with pytest.raises(ValueError, match="divisible"):
        compute_schedule(
            dataset_size=35,
            global_batch=6,
            world_size=4,
            epochs=1,
            warmup_epochs=0,
            max_iter=0,
            warmup_iters=0,
            base_lr=1.0,
            lr_scaling="linear_256",
        )


def test_lars_step_formula_and_excluded_group():
    torch.manual_seed(0)
    w = torch.nn.Parameter(torch.randn(4, 3))
    b = torch.nn.Parameter(torch.randn(4))
    w.grad, b.grad = torch.randn(4, 3), torch.randn(4)
    w0, b0, gw, gb = w.detach().clone(), b.detach().clone(), w.grad.clone(), b.grad.clone()
    lr, wd, eta = 0.5, 1e-2, 1e-3
    opt = LARS(
        [{"params": [w]}, {"params": [b], "apply_weight_decay": False, "apply_trust_ratio": False}],
        lr=lr,
        momentum=0.9,
        weight_decay=wd,
        eta=eta,
    )
    opt.step()
    g = gw + wd * w0
    expected_w = w0 - lr * g * (eta * w0.norm() / g.norm())
    torch.testing.assert_close(w.detach(), expected_w)
    torch.testing.assert_close(b.detach(), b0 - lr * gb)  # plain momentum SGD, no wd, no ratio


def test_optimizer_groups_exclude_bias_norm_and_frozen():
    from decon_d2.config import build_cfg
    from decon_d2.engine.optimizer import build_optimizer

    model = torch.nn.Sequential(torch.nn.Conv2d(3, 4, 3), torch.nn.BatchNorm2d(4))
    frozen = torch.nn.Linear(2, 2).requires_grad_(False)
    model.add_module("teacher", frozen)
    for name in ("LARS", "SGD", "AdamW"):
        cfg = build_cfg(
            opts=[
                "SOLVER.DECON.OPTIMIZER",
                name,
                "SOLVER.IMS_PER_BATCH",
                512,
                "SOLVER.BASE_LR",
                1.0,
            ]
        )
        opt = build_optimizer(cfg, model)
        decay, no_decay = opt.param_groups
        assert [p.shape for p in decay["params"]] == [torch.Size([4, 3, 3, 3])]
        assert len(no_decay["params"]) == 3  # conv bias, BN weight and bias
        assert decay["lr"] == 2.0
        if name == "LARS":
            assert not no_decay["apply_trust_ratio"] and not no_decay["apply_weight_decay"]
        else:
            assert no_decay["weight_decay"] == 0.0
