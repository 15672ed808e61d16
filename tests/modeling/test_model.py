"""The DeCon meta-architecture: variants, Detectron2 key names, gradients, EMA, edge cases.

Models are the instant-test configs (configs/quick_schedules/) on the real ResNet-50 + FPN:
64-pixel crops, batch 2, tiny head widths.
"""
import pytest
import torch
from detectron2 import model_zoo
from detectron2.config import get_cfg
from detectron2.modeling import build_model
from detectron2.utils.events import EventStorage

from decon_d2.modeling import DeCon, DeConFPN
from tests.helpers import (
    build_instant_model, decon_opts, instant_test_cfg, synthetic_batch,
)

VARIANTS = ("slotcon", "decon_sl", "decon_ml")
LEVELS = ("p2", "p3", "p4", "p5")


def build(variant="decon_sl", **decon):
    """The variant's instant-test model on the real ResNet-50 (configs/quick_schedules/)."""
    return build_instant_model(variant, *decon_opts(**decon), r50=True)


def make_batch(n=2, size=64, seed=0):
    return synthetic_batch(n, size, seed)


@pytest.fixture(scope="module")
def mask_rcnn_backbone():
    """The backbone of Detectron2's own Mask R-CNN R50-FPN, built from its model-zoo config with
    the fine-tuning overrides of docs/method.md §4.4 (SyncBN in backbone and FPN, nothing frozen)."""
    cfg = get_cfg()
    cfg.merge_from_file(model_zoo.get_config_file(
        "COCO-InstanceSegmentation/mask_rcnn_R_50_FPN_1x.yaml"))
    cfg.MODEL.DEVICE = "cpu"
    cfg.MODEL.RESNETS.NORM = cfg.MODEL.FPN.NORM = "SyncBN"
    cfg.MODEL.BACKBONE.FREEZE_AT = 0
    cfg.MODEL.RESNETS.STRIDE_IN_1X1 = False
    return build_model(cfg).backbone


@pytest.fixture(scope="module")
def mask_rcnn_backbone_keys(mask_rcnn_backbone):
    return set(mask_rcnn_backbone.state_dict())


@pytest.mark.parametrize("variant", VARIANTS)
def test_variant_builds_and_trains_one_step(variant, mask_rcnn_backbone_keys):
    model = build(variant)
    assert isinstance(model, DeCon)
    # Backbone keys are Mask R-CNN's (only the FPN output convs that feed a loss are built).
    if variant == "slotcon":
        expected = {k for k in mask_rcnn_backbone_keys if k.startswith("bottom_up.")}
    elif variant == "decon_sl":
        expected = {k for k in mask_rcnn_backbone_keys if not k.startswith(("fpn_output3",
                                                                              "fpn_output4",
                                                                              "fpn_output5"))}
    else:
        expected = mask_rcnn_backbone_keys
    assert set(model.student.backbone.state_dict()) == expected
    assert set(model.teacher.backbone.state_dict()) == expected
    # Every other key names what it is (the converter's contract).
    for k in model.state_dict():
        branch, rest = k.split(".", 1)
        assert branch in ("student", "teacher"), k
        assert rest.startswith("backbone.") or any(
            w in rest for w in ("projector", "predictor", "prototypes", "center")), k

    losses = model(make_batch())
    dec = [] if variant == "slotcon" else ["loss_dec_group", "loss_dec_contrast"]
    assert sorted(losses) == sorted(["loss_enc_group", "loss_enc_contrast"] + dec)
    total = sum(losses.values())
    assert torch.isfinite(total)
    total.backward()
    # DDP without find_unused_parameters: every trainable parameter must get a gradient.
    for name, p in model.named_parameters():
        if p.requires_grad:
            assert p.grad is not None, name
        else:
            assert name.startswith("teacher.") and p.grad is None, name
    assert all(not p.requires_grad for p in model.teacher.parameters())
    heads = set(model.student.heads)
    assert heads == ({"res5"} | set(dict(decon_sl=["p2"], decon_ml=LEVELS).get(variant, [])))
    assert set(model.teacher.heads) == heads


def test_backbone_loads_into_mask_rcnn_with_matching_shapes(mask_rcnn_backbone):
    target = mask_rcnn_backbone
    source = build("decon_ml", SKIP_CHANNEL_DROPOUT=0.0).teacher.backbone
    target.load_state_dict(source.state_dict(), strict=True)
    # Backbone details the recipe fixes (docs/method.md §1.2-1.3).
    res = source.bottom_up
    assert res.res3[0].conv1.stride == (1, 1) and res.res3[0].conv2.stride == (2, 2)
    assert all(float(b.conv3.norm.weight.abs().sum()) == 0 for s in ("res2", "res3", "res4", "res5")
               for b in getattr(res, s))
    assert source.top_block is None and source.fpn_lateral2.bias is None


def _grad_of(model, loss):
    model.zero_grad(set_to_none=True)
    loss.backward(retain_graph=True)
    return model.student.backbone.bottom_up.stem.conv1.weight.grad


def test_gradients_reach_encoder_from_both_terms_and_not_teacher():
    model = build("decon_sl")
    losses = model(make_batch())
    g_enc = _grad_of(model, losses["loss_enc_group"] + losses["loss_enc_contrast"])
    assert g_enc is not None and g_enc.abs().sum() > 0
    g_dec = _grad_of(model, losses["loss_dec_group"] + losses["loss_dec_contrast"])
    assert g_dec is not None and g_dec.abs().sum() > 0
    assert not torch.allclose(g_enc, g_dec)
    assert all(p.grad is None for p in model.teacher.parameters())


def test_loss_weights_mix_encoder_and_mean_of_levels():
    model = build("decon_ml", ENCODER_LOSS_WEIGHT=0.3, SKIP_CHANNEL_DROPOUT=0.0)
    with EventStorage():
        losses = model(make_batch())
        from detectron2.utils.events import get_event_storage

        logs = {k: v[0] for k, v in get_event_storage().latest().items()}
    w = 0.5  # GROUP_LOSS_WEIGHT(_DEC)
    enc = {p: logs[f"decon/res5_{p}"] for p in ("group", "contrast")}
    dec = {p: sum(logs[f"decon/{lv}_{p}"] for lv in LEVELS) / 4 for p in ("group", "contrast")}
    assert losses["loss_enc_group"].item() == pytest.approx(0.3 * w * enc["group"], rel=1e-5)
    assert losses["loss_enc_contrast"].item() == pytest.approx(0.3 * (1 - w) * enc["contrast"],
                                                               rel=1e-5)
    assert losses["loss_dec_group"].item() == pytest.approx(0.7 * w * dec["group"], rel=1e-5)
    assert losses["loss_dec_contrast"].item() == pytest.approx(0.7 * (1 - w) * dec["contrast"],
                                                               rel=1e-5)
    assert "decon/contrast_skipped" in logs


def test_momentum_update_and_copy():
    model = build("decon_sl")
    with torch.no_grad():
        for p in model.student.parameters():
            p.add_(torch.randn_like(p))
    t_before = {k: v.clone() for k, v in model.teacher.named_parameters()}
    s = dict(model.student.named_parameters())
    model.momentum_update(0.9)
    for k, t in model.teacher.named_parameters():
        torch.testing.assert_close(t, 0.9 * t_before[k] + 0.1 * s[k])
    # The decoder twin's prototypes are EMA'd too (the authors' code forgets them).
    assert not torch.equal(model.teacher.heads["p2"].prototypes.weight, t_before[
        "heads.p2.prototypes.weight"])
    assert not any("predictor" in k for k in t_before)
    model.copy_student_to_teacher()
    t_sd, s_sd = model.teacher.state_dict(), model.student.state_dict()
    assert all(torch.equal(v, s_sd[k]) for k, v in t_sd.items())


def test_teacher_dropout_follows_config():
    ml = build("decon_ml")
    assert isinstance(ml.student.backbone, DeConFPN)
    assert ml.student.backbone.skip_dropout.p == 0.5 and ml.teacher.backbone.skip_dropout.p == 0.5
    ml_nt = build("decon_ml", TEACHER_DROPOUT=False)
    assert ml_nt.student.backbone.skip_dropout.p == 0.5
    assert ml_nt.teacher.backbone.skip_dropout.p == 0
    assert build("decon_sl").student.backbone.skip_dropout.p == 0.0


def test_config_validation():
    def cfg(variant, **decon):
        return instant_test_cfg(variant, *decon_opts(**decon), r50=True)

    with pytest.raises(ValueError, match="ENCODER_LOSS_WEIGHT.*1.0"):
        build_model(cfg("slotcon", ENCODER_LOSS_WEIGHT=0.5))
    with pytest.raises(ValueError, match="ENCODER_LOSS_WEIGHT"):
        build_model(cfg("decon_sl", ENCODER_LOSS_WEIGHT=1.0))
    with pytest.raises(ValueError, match="DECODER_TYPE"):
        build_model(cfg("decon_sl", DECODER_TYPE="UNet"))
    with pytest.raises(ValueError, match="DECODER_LEVELS"):
        build_model(cfg("decon_sl", DECODER_LEVELS=["p2", "p7"]))
    with pytest.raises(ValueError, match="DECODER_LEVELS"):
        build_model(cfg("decon_sl", DECODER_LEVELS=[]))
    with pytest.raises(ValueError, match="SKIP_CHANNEL_DROPOUT"):
        build_model(cfg("slotcon", SKIP_CHANNEL_DROPOUT=0.5))
    with pytest.raises(ValueError, match="FREEZE_AT"):
        build_model(instant_test_cfg("slotcon", "MODEL.BACKBONE.FREEZE_AT", 2, r50=True))
    # alpha = 0: no encoder head is built; the encoder trains through the decoder only.
    assert set(build("decon_sl", ENCODER_LOSS_WEIGHT=0.0).student.heads) == {"p2"}
    # The variant name is derived from the keys, never read.
    assert build("decon_ml", DECODER_LEVELS=["p3", "p4", "p5"]).variant == "decon_fpn[p3,p4,p5]"


def test_syncbn_becomes_bn_in_one_process():
    model = build("decon_sl")
    assert not any(isinstance(m, torch.nn.SyncBatchNorm) for m in model.modules())


def test_no_surviving_query_skips_contrast_without_nan():
    """32-px crops: res5 is 1x1, one present prototype per map. Identical views and a teacher
    with negated prototypes make every teacher arg-max differ from the student's: no query
    survives in either direction, which gives NaN in the authors' code."""
    model = build("slotcon")
    with torch.no_grad():
        model.teacher.heads["res5"].prototypes.weight.neg_()
    batch = make_batch(n=2, size=32)
    for s in batch:
        s["view2"], s["box1"], s["box2"] = s["view1"].clone(), torch.tensor([0.0, 0, 1, 1]), \
            torch.tensor([0.0, 0, 1, 1])
        s["flip1"] = s["flip2"] = False
    with EventStorage() as storage:
        losses = model(batch)
        skipped = storage.latest()["decon/contrast_skipped"][0]
    assert skipped == 2 and losses["loss_enc_contrast"].item() == 0.0
    total = sum(losses.values())
    assert torch.isfinite(total)
    total.backward()
    assert all(p.grad is not None for p in model.student.heads["res5"].predictor.parameters())


def test_forward_outside_event_storage_and_in_eval_mode():
    model = build("slotcon")
    center = model.student.heads["res5"].center.clone()
    model.eval()
    with torch.no_grad():
        losses = model(make_batch())
    assert all(torch.isfinite(v) for v in losses.values())
    assert torch.equal(model.student.heads["res5"].center, center)  # no update in eval
