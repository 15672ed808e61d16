"""Segmentation models: the FCN head (shapes, dilation, upsampling, loss), the DeCon-FCN decoder
keys, sliding-window inference (windows, borders, equality with whole-image inference)."""
import pytest
import torch
import torch.nn.functional as F
from detectron2.modeling import build_model

from decon_d2.config import build_cfg
from decon_d2.modeling import DeConFCN, FCNHead, decoder_spec
from decon_d2.modeling.sliding_window import sliding_window_logits, window_starts
from tools.paths import config_path
from tests.helpers import build_instant_model, decon_opts, instant_test_cfg

FCN_CFG = "finetune/demo/fcn_R_50_D6_demo.yaml"


def fcn_segmentor(*opts):
    """The demo FCN segmentor (ResNet-50 at output stride 16), eval mode, seeded."""
    torch.manual_seed(0)
    cfg = build_cfg(config_path(FCN_CFG), ["MODEL.WEIGHTS", "", *opts])
    return build_model(cfg).eval()


@pytest.fixture(scope="module")
def segmentor():
    return fcn_segmentor("MODEL.SEM_SEG_HEAD.CONVS_DIM", "32")


def test_fcn_head_layers_and_output_stride(segmentor):
    head = segmentor.sem_seg_head
    assert isinstance(head, FCNHead) and head.stride == 16 and head.align_corners
    assert len(head.convs) == 2
    for i, conv in enumerate(head.convs):
        assert conv.kernel_size == (3, 3) and conv.dilation == (6, 6) and conv.padding == (6, 6)
        assert conv.bias is None and conv.norm is not None  # conv -> norm -> ReLU
        assert conv.in_channels == (2048 if i == 0 else 32) and conv.out_channels == 32
    assert head.predictor.kernel_size == (1, 1) and head.predictor.out_channels == 21
    res5 = segmentor.backbone.res5[0]
    # RES5_DILATION 2 with mmseg's contract_dilation: block 0 at dilation 1, the others at 2
    assert res5.conv2.stride == (1, 1) and res5.conv2.dilation == (1, 1)
    assert segmentor.backbone.res5[1].conv2.dilation == (2, 2)
    with torch.no_grad():
        feats = segmentor.backbone(torch.zeros(1, 3, 225, 161))
    assert feats["res5"].shape[-2:] == (15, 11)  # ceil(225 / 16), ceil(161 / 16)
    assert head.layers(feats).shape == (1, 21, 15, 11)


def test_fcn_head_dilation_reach(segmentor):
    """A single active res5 pixel changes the conv stack's output only at offsets that are
    multiples of 6 up to 2 x 6 = 12 (two dilated 3x3 layers), and does reach 12."""
    head = segmentor.sem_seg_head
    x = torch.zeros(1, 2048, 31, 31)
    bump = x.clone()
    bump[0, :, 15, 15] = 1.0
    with torch.no_grad():
        diff = (head.decode({"res5": bump}) - head.decode({"res5": x})).abs().sum(1)[0]
    ys, xs = torch.nonzero(diff > 1e-7, as_tuple=True)
    offsets = set((ys - 15).tolist()) | set((xs - 15).tolist())
    assert offsets <= {-12, -6, 0, 6, 12} and {-12, 12} <= offsets, offsets


def test_fcn_head_corner_aligned_upsampling_and_loss(segmentor):
    head = segmentor.sem_seg_head
    low = torch.randn(1, 21, 15, 11)
    up = head.upsample(low, (225, 161))  # (15 - 1) * 16 + 1, (11 - 1) * 16 + 1
    torch.testing.assert_close(up[..., ::16, ::16], low)  # the protocol's 16k + 1 grid
    target = torch.randint(0, 21, (1, 225, 161))
    target[0, :40] = 255
    ce = F.cross_entropy(up, target, ignore_index=255, reduction="none")
    head.train()
    loss = head.losses(low, target)["loss_sem_seg"]
    assert loss.item() == pytest.approx(float(ce.sum() / target.numel()), rel=1e-5)
    head.loss_over_all_pixels = False
    loss = head.losses(low, target)["loss_sem_seg"]
    assert loss.item() == pytest.approx(float(ce[target != 255].mean()), rel=1e-5)
    head.loss_over_all_pixels = True
    head.eval()


def test_decon_fcn_decoder_keys_and_validation():
    model = build_instant_model("decon_fcn")
    assert isinstance(model.student.backbone, DeConFCN)
    fcn_keys = {k for k in model.student.backbone.state_dict() if not k.startswith("bottom_up.")}
    assert {k.split(".norm")[0] for k in fcn_keys} == {"fcn.convs.0.weight", "fcn.convs.0",
                                                     "fcn.convs.1.weight", "fcn.convs.1"}
    conv = model.student.backbone.fcn.convs[0]
    assert conv.dilation == (6, 6) and conv.in_channels == 512  # R18's res5
    assert model.variant == "decon_fcn"
    d = instant_test_cfg("decon_fcn").MODEL.DECON
    for bad, match in (({"SKIP_CHANNEL_DROPOUT": 0.5}, "no skip branches"),
                       ({"DECODER_LEVELS": ["p2"]}, "DECODER_LEVELS")):
        with pytest.raises(ValueError, match=match):
            decoder_spec(instant_test_cfg("decon_fcn", *decon_opts(**bad)).MODEL.DECON)
    assert decoder_spec(d).levels == ("fcn",)


# ------------------------------------------------------------------- sliding-window inference
@pytest.mark.parametrize("length,window,stride", [(10, 4, 3), (11, 4, 3), (769, 769, 513),
                                                  (1024, 769, 513), (2048, 769, 513), (5, 8, 3)])
def test_windows_cover_the_length_and_end_flush(length, window, stride):
    starts = window_starts(length, window, stride)
    w = min(window, length)
    covered = set()
    for s in starts:
        assert 0 <= s <= length - w
        covered |= set(range(s, s + w))
    assert covered == set(range(length)) and starts[-1] == length - w
    assert len(starts) == max(length - window + stride - 1, 0) // stride + 1  # mmseg's count


def test_sliding_window_handles_borders():
    """A pointwise model: every window agrees with the whole image, so the average must equal
    the whole-image logits everywhere, borders and overlaps included (a pixel no window covered
    would be 0/0)."""
    g = torch.Generator().manual_seed(0)
    weight = torch.randn(5, 3, generator=g)
    image = torch.rand(3, 100, 150, generator=g) * 255

    def pointwise(crops):
        return [torch.einsum("kc,chw->khw", weight, c) for c in crops]

    calls = []
    out = sliding_window_logits(lambda crops: calls.append(len(crops)) or pointwise(crops),
                                image, (64, 64), (48, 48))
    torch.testing.assert_close(out, pointwise([image])[0], rtol=1e-5, atol=1e-4)
    assert calls == [len(window_starts(100, 64, 48)) * len(window_starts(150, 64, 48))] == [6]


def test_sliding_window_equals_whole_image_when_the_window_covers_it(segmentor):
    image = torch.randint(0, 256, (3, 97, 130), dtype=torch.uint8)
    batch = [{"image": image, "height": 120, "width": 160}]
    with torch.no_grad():
        whole = segmentor(batch)[0]["sem_seg"]
        segmentor.sliding_window = ((769, 769), (513, 513))
        slid = segmentor(batch)[0]["sem_seg"]
        segmentor.sliding_window = ((64, 64), (48, 48))
        small = segmentor(batch)[0]["sem_seg"]
        segmentor.sliding_window = None
    assert whole.shape == (21, 120, 160)  # resized to the record's height and width
    torch.testing.assert_close(slid, whole, rtol=0, atol=0)
    assert small.shape == whole.shape and torch.isfinite(small).all()
    assert not torch.allclose(small, whole)  # real windows: a different (averaged) answer
