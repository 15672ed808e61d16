"""The ADE20K FCN config builds mmseg's fcn_r50-d8 (output stride 8, contracted dilations, input
concat, dropout, auxiliary head on res4 with its loss); the FCN-D6 configs contract res5's first
dilation as mmseg does; the dilated ResNet keeps Detectron2's key names."""
import pytest
import torch
from detectron2.modeling import build_backbone, build_model

from decon_d2.config import build_cfg
from decon_d2.modeling.dilated_resnet import stage_geometry
from tools.paths import config_path

ADE = "finetune/fcn_R_50_D1_ade20k_80k_decon.yaml"
VOC = "finetune/fcn_R_50_D6_voc12aug_30k_decon.yaml"
CPU = ["MODEL.WEIGHTS", "", "MODEL.DEVICE", "cpu"]


def _dilations(stage):
    return [block.conv2.dilation[0] for block in stage]


@pytest.fixture(scope="module")
def ade_model():
    torch.manual_seed(0)
    return build_model(build_cfg(config_path(ADE), CPU))


def test_ade20k_config_is_output_stride_8_with_the_auxiliary_loss(ade_model):
    model = ade_model
    bb = model.backbone
    assert _dilations(bb.res4) == [1, 2, 2, 2, 2, 2] and _dilations(bb.res5) == [2, 4, 4]
    assert bb.res4[0].conv2.stride == (1, 1) and bb.res5[0].conv2.stride == (1, 1)
    assert bb.res3[0].conv2.stride == (2, 2)
    head = model.sem_seg_head
    assert head.stride == 8 and not head.align_corners
    assert head.conv_cat is not None and head.conv_cat.in_channels == 2048 + 512
    assert isinstance(head.dropout, torch.nn.Dropout2d) and head.dropout.p == 0.1
    assert head.aux.in_feature == "res4" and head.aux.loss_weight == 0.4
    assert len(head.aux.convs) == 1 and head.aux.convs[0].out_channels == 256
    model.eval()
    with torch.no_grad():
        feats = bb(torch.zeros(1, 3, 64, 96))
    assert feats["res5"].shape[-2:] == (8, 12) and feats["res4"].shape[-2:] == (8, 12)
    assert head.layers(feats).shape == (1, 150, 8, 12)

    model.train()
    sem_seg = torch.randint(0, 150, (64, 96))
    sem_seg[:8] = 255
    batch = [{"image": torch.randint(0, 256, (3, 64, 96)).float(), "sem_seg": sem_seg}
             for _ in range(2)]
    losses = model(batch)
    assert set(losses) == {"loss_sem_seg", "loss_sem_seg_aux"}
    assert all(torch.isfinite(v) and v > 0 for v in losses.values())
    # 0.4 x the auxiliary head's cross-entropy (its logits x 0 give log(150) per labelled pixel)
    with torch.no_grad():
        head.aux.predictor.weight.zero_()
        head.aux.predictor.bias.zero_()
        aux = model(batch)["loss_sem_seg_aux"]
    labelled = float((sem_seg != 255).sum()) / sem_seg.numel()
    assert aux.item() == pytest.approx(0.4 * torch.log(torch.tensor(150.0)).item() * labelled,
                                       rel=1e-4)


def test_fcn_d6_contracts_the_first_res5_dilation():
    bb = build_backbone(build_cfg(config_path(VOC), CPU))
    assert _dilations(bb.res5) == [1, 2, 2] and bb.res5[0].conv2.stride == (1, 1)
    assert _dilations(bb.res4) == [1] * 6 and bb.res4[0].conv2.stride == (2, 2)
    assert bb.output_shape()["res5"].stride == 16


def test_dilated_resnet_keeps_the_stock_keys_and_the_plain_geometry():
    """Same names and shapes as Detectron2's ResNet, so converted weights load unchanged; with
    RES5_DILATION 1 (the converter's comparison geometry) it is the plain stride-32 network."""
    opts = [*CPU, "MODEL.RESNETS.OUT_FEATURES", "['res2', 'res3', 'res4', 'res5']"]
    ours = build_backbone(build_cfg(config_path(ADE), opts))
    stock = build_backbone(build_cfg(config_path(ADE), [
        *opts, "MODEL.BACKBONE.NAME", "build_resnet_backbone", "MODEL.RESNETS.RES5_DILATION", "1"]))
    assert {k: v.shape for k, v in ours.state_dict().items()} == \
        {k: v.shape for k, v in stock.state_dict().items()}
    plain = build_backbone(build_cfg(config_path(ADE), [*opts, "MODEL.RESNETS.RES5_DILATION", "1"]))
    plain.load_state_dict(stock.state_dict())
    plain.eval(), stock.eval()
    x = torch.randn(1, 3, 64, 64)
    with torch.no_grad():
        a, b = plain(x), stock(x)
    for level in ("res2", "res3", "res4", "res5"):
        torch.testing.assert_close(a[level], b[level])
    assert stage_geometry(4, False, (3, 4, 6, 3))[3] == ([1, 1, 1], [4, 4, 4])
    with pytest.raises(ValueError, match="RES5_DILATION"):
        stage_geometry(3, True, (3, 4, 6, 3))
