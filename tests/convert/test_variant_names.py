"""The converter names the source's variant as the catalogue does (decon_d2/variants.py): the
record's name (earlier checkpoints' ``encoder_only`` read as ``slotcon``/``densecl``), else the
decoder the keys hold with the head's family, and warns when record and keys disagree on the
decoder layout."""
import pytest
import torch

from decon_d2.convert import convert_to_d2
from decon_d2.weights import PretrainRecord

STEM = torch.zeros(64, 3, 7, 7)


def _convert(state, meta=None):
    _, report = convert_to_d2(state, meta=meta, allow_partial=True)  # a stem alone: partial
    return report


@pytest.mark.parametrize("meta,expected", [
    ({"variant": "encoder_only", "ssl_head": "SlotConHead", "decoder_type": ""}, "slotcon"),
    ({"variant": "encoder_only", "ssl_head": "DenseCLHead", "decoder_levels": []}, "densecl"),
    ({"ssl_head": "DenseCLHead"}, "densecl"),  # no variant recorded: the keys and the head
    (None, "slotcon"),
])
def test_encoder_only_checkpoints_get_catalogue_names(meta, expected):
    report = _convert({"teacher.backbone.bottom_up.stem.conv1.weight": STEM,
                       "student.backbone.bottom_up.stem.conv1.weight": STEM}, meta)
    assert report.variant == expected and report.meta["variant"] == expected
    assert not any("says variant" in w for w in report.warnings)


def test_authors_and_torchvision_sources():
    assert _convert({"module.encoder_k.conv1.weight": STEM}).variant == "slotcon"
    assert _convert({"conv1.weight": STEM}).variant == "torchvision"


def test_record_and_keys_disagreeing_on_the_decoder_warn():
    state = {"teacher.backbone.bottom_up.stem.conv1.weight": STEM,
             "teacher.backbone.fpn_output2.weight": torch.zeros(256, 256, 3, 3)}
    record = PretrainRecord(variant="decon_ml", decoder_type="FPN",
                            decoder_levels=["p2", "p3", "p4", "p5"])
    report = _convert(state, record)
    assert report.variant == "decon_ml"
    assert any("says variant 'decon_ml' (decoder ml)" in w and "'decon_sl' (decoder sl)" in w
               for w in report.warnings), report.warnings
    agreeing = PretrainRecord(variant="decon_sl", decoder_type="FPN", decoder_levels=["p2"])
    assert not any("says variant" in w for w in _convert(state, agreeing).warnings)
