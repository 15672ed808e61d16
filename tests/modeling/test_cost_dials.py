"""The cost/memory dials (docs/benchmarks.md), all off by default.

- ``MODEL.DECON.SLOTCON.DEC_PROJ_CHECKPOINT``: activation checkpointing of the decoder projectors
  must give the same losses, gradients and norm running statistics as without.
- ``MODEL.DECON.DECODER_LEVELS`` without p2: the FPN stops at the finest level used.
"""
import pytest
import torch
from detectron2.modeling import build_model
from detectron2.utils.events import EventStorage

from tests.helpers import (
    build_instant_model, decon_opts, instant_test_cfg, synthetic_batch,
)


def build(variant, **decon):
    return build_instant_model(variant, *decon_opts(**decon))  # depth plays no part here


def _step(model, batch, seed=0):
    torch.manual_seed(seed)  # same dropout masks in both runs
    with EventStorage(0):
        losses = model(batch)
    model.zero_grad(set_to_none=True)
    sum(losses.values()).backward()
    return {k: v.detach() for k, v in losses.items()}


@pytest.mark.parametrize("variant", ["decon_sl", "decon_ml"])
def test_projector_checkpointing_changes_nothing_but_memory(variant):
    plain, ckpt = build(variant), build(variant)
    ckpt.load_state_dict(plain.state_dict())
    for head in ckpt.student.heads.values():
        head.projector.checkpoint = head is not ckpt.student.heads["res5"]
    assert sum(h.projector.checkpoint for h in ckpt.student.heads.values()) == len(
        ckpt.decoder_levels)
    batch = synthetic_batch(2, 64)
    l_plain, l_ckpt = _step(plain, batch), _step(ckpt, batch)
    assert l_plain.keys() == l_ckpt.keys()
    for k in l_plain:
        torch.testing.assert_close(l_ckpt[k], l_plain[k], rtol=0, atol=0)
    g_plain = {n: p.grad for n, p in plain.named_parameters() if p.grad is not None}
    g_ckpt = {n: p.grad for n, p in ckpt.named_parameters() if p.grad is not None}
    assert g_plain.keys() == g_ckpt.keys() and g_plain
    for n in g_plain:
        torch.testing.assert_close(g_ckpt[n], g_plain[n], rtol=1e-5, atol=1e-7, msg=n)
    # The recomputation in backward must not update the norm statistics a second time.
    b_plain, b_ckpt = dict(plain.named_buffers()), dict(ckpt.named_buffers())
    for n in b_plain:
        torch.testing.assert_close(b_ckpt[n], b_plain[n], rtol=0, atol=0, msg=n)


def test_projector_checkpointing_follows_config():
    cfg = instant_test_cfg("decon_ml", "MODEL.DECON.SLOTCON.DEC_PROJ_CHECKPOINT", True)
    model = build_model(cfg)
    flags = {k: h.projector.checkpoint for k, h in model.student.heads.items()}
    assert flags == {"res5": False, "p2": True, "p3": True, "p4": True, "p5": True}
    assert not any(h.projector.checkpoint for h in build("decon_ml").student.heads.values())


def test_decoder_levels_of_the_shipped_variants():
    assert build("decon_ml").decoder_levels == ["p2", "p3", "p4", "p5"]
    assert build("decon_sl").decoder_levels == ["p2"]


def test_decoder_levels_without_p2_freezes_the_unused_laterals():
    model = build("decon_ml", DECODER_LEVELS=["p5", "p3", "p4"])
    assert model.decoder_levels == ["p3", "p4", "p5"]  # in FPN order
    fpn = model.student.backbone
    assert not hasattr(fpn, "fpn_output2") and hasattr(fpn, "fpn_output3")
    assert not any(p.requires_grad for p in fpn.fpn_lateral2.parameters())
    lateral2 = fpn.fpn_lateral2.weight.clone()
    _step(model, synthetic_batch(2, 64))
    # DDP without find_unused_parameters: every trainable parameter still gets a gradient.
    for name, p in model.named_parameters():
        assert (p.grad is not None) == p.requires_grad, name
    model.momentum_update(0.5)
    torch.testing.assert_close(model.teacher.backbone.fpn_lateral2.weight, lateral2)
    assert "fpn_lateral2.weight" in dict(fpn.named_parameters())  # Mask R-CNN key layout kept


def test_decoder_levels_validation():
    with pytest.raises(ValueError, match="DECODER_LEVELS"):
        build("slotcon", DECODER_LEVELS=["p2"])
    with pytest.raises(ValueError, match="DECODER_LEVELS"):
        build("decon_ml", DECODER_LEVELS=["p6"])
    with pytest.raises(ValueError, match="DECODER_LEVELS"):
        build("decon_sl", DECODER_LEVELS=["p3", "p3"])
