"""The ``decon_meta`` record (decon_d2/weights/record.py): round trips keep every key, older
files read with the documented defaults, the ``encoder_only`` alias reads as a catalogue name,
and a run's record holds the values its configs state."""
from types import SimpleNamespace

import pytest

from decon_d2.conventions import IMAGENET_PIXEL_MEAN, IMAGENET_PIXEL_STD, Conventions
from decon_d2.engine.checkpoint import DeConMeta
from decon_d2.weights import ConvertedRecord, PretrainRecord, run_record
from tests.helpers import instant_test_cfg

#: the keys (and order) checkpoints have stored since the record existed (docs/contracts.md)
CHECKPOINT_KEYS = ["variant", "input_format", "pixel_mean", "pixel_std", "stride_in_1x1", "norm",
                   "fpn_norm", "decoder_levels", "iteration", "ssl_head", "export_branch", "amp",
                   "decoder_type", "fcn", "global_batch", "max_iter", "crop_size", "seed"]


def _pretrain():
    return PretrainRecord(variant="decon_fcn", input_format="BGR", pixel_mean=[1.0, 2.0, 3.0],
                          pixel_std=[4.0, 5.0, 6.0], stride_in_1x1=True, norm="BN",
                          fpn_norm="", decoder_levels=["fcn"], iteration=12,
                          ssl_head="SlotConHead", export_branch="teacher", amp="bf16",
                          decoder_type="FCN", fcn={"channels": 8, "dilation": 6})


def test_pretrain_record_round_trips_and_keeps_unknown_keys():
    record = _pretrain()
    data = record.to_dict()
    assert list(data) == CHECKPOINT_KEYS
    assert PretrainRecord.from_dict(data) == record
    newer = {**data, "written_by_a_later_version": {"x": 1}}
    again = PretrainRecord.from_dict(newer)
    assert again.extra == {"written_by_a_later_version": {"x": 1}} and not again.missing
    assert again.to_dict() == newer


def test_converted_record_round_trips_and_writes_source_fields_only_when_set():
    record = ConvertedRecord(variant="decon_ml", exported=["encoder", "fpn"], fpn_out_channels=256,
                             fpn_outputs_pretrained=["p2", "p3", "p4", "p5"], branch="teacher",
                             source_layout="ours", iteration=41, pretrain_amp="off",
                             pretrain_ssl_head="SlotConHead", converter="decon_d2.convert",
                             converter_version="2")
    data = record.to_dict()
    assert "source_file" not in data and "source_sha256" not in data
    assert ConvertedRecord.from_dict(data) == record and record.exports_fpn
    record.source_file, record.source_sha256 = "model_final.pth", "ab" * 32
    data = record.to_dict()
    assert list(data)[-2:] == ["source_file", "source_sha256"]
    assert ConvertedRecord.from_dict({**data, "note": "kept"}).to_dict() == {**data, "note": "kept"}


def test_an_older_record_reads_with_the_documented_defaults():
    old = PretrainRecord.from_dict({"variant": "decon_ml", "iteration": 5})
    assert old.conventions == Conventions("RGB", IMAGENET_PIXEL_MEAN, IMAGENET_PIXEL_STD, False,
                                          "SyncBN", "SyncBN")
    assert (old.amp, old.ssl_head, old.decoder_type, old.fcn) == (None, None, None, None)
    assert old.branch == "teacher" and old.decoder == "ml"  # from the catalogue row
    assert {"pixel_mean", "stride_in_1x1", "amp", "export_branch"} <= set(old.missing)
    assert old.missing_conventions == ["input_format", "pixel_mean", "pixel_std", "stride_in_1x1",
                                       "norm", "fpn_norm"]
    assert "variant" not in old.missing and "iteration" not in old.missing
    empty = PretrainRecord.from_dict(None)
    assert empty.variant is None and empty.decoder is None and len(empty.missing) == len(CHECKPOINT_KEYS)


@pytest.mark.parametrize("name,head,expected", [
    ("encoder_only", None, "slotcon"), ("encoder_only", "SlotConHead", "slotcon"),
    ("encoder_only", "DenseCLHead", "densecl"), ("decon_sl", "SlotConHead", "decon_sl"),
    ("decon_fpn[p3,p4,p5]", "SlotConHead", "decon_fpn[p3,p4,p5]")])
def test_the_encoder_only_alias_reads_as_a_catalogue_name(name, head, expected):
    assert PretrainRecord.from_dict({"variant": name, "ssl_head": head}).variant == expected
    converted = ConvertedRecord.from_dict({"variant": name, "pretrain_ssl_head": head})
    assert converted.variant == expected


def test_decoder_layout_comes_from_the_decoder_keys_first():
    assert PretrainRecord(variant="slotcon", decoder_type="", decoder_levels=[]).decoder == "none"
    assert PretrainRecord(decoder_type="FPN", decoder_levels=["p3", "p4", "p5"]).decoder == \
        "fpn[p3,p4,p5]"
    assert PretrainRecord(variant="decon_fpn[p3,p4,p5]").decoder is None  # nothing to go on


#: the record of the decon_fcn instant-test run at iteration 9, written out by hand from its
#: configs (configs/quick_schedules/, configs/demo/Base-demo.yaml, configs/Base-DeCon-R50-FPN.yaml)
#: and the documented defaults (docs/contracts.md), not computed by the code under test
DECON_FCN_AT_9 = {
    "variant": "decon_fcn", "input_format": "RGB", "pixel_mean": [123.675, 116.28, 103.53],
    "pixel_std": [58.395, 57.12, 57.375], "stride_in_1x1": False, "norm": "SyncBN",
    "fpn_norm": "SyncBN", "decoder_levels": ["fcn"], "iteration": 9, "ssl_head": "SlotConHead",
    "export_branch": "teacher", "amp": "off", "decoder_type": "FCN",
    "fcn": {"channels": 256, "num_convs": 2, "dilation": 6, "norm": "SyncBN",
            "in_feature": "res5", "stride": 32},
    "global_batch": 2, "max_iter": 3, "crop_size": 64, "seed": 0,
}


def test_a_runs_record_is_what_checkpoints_store():
    cfg = instant_test_cfg("decon_fcn")
    model = SimpleNamespace(variant="decon_fcn", decoder_levels=["fcn"], export_branch="teacher")
    stored = DeConMeta(cfg, model, lambda: 9).state_dict()
    assert list(stored) == CHECKPOINT_KEYS
    assert stored == DECON_FCN_AT_9
    assert run_record(cfg, "decon_fcn", ["fcn"], "teacher", 9).to_dict() == DECON_FCN_AT_9
    meta = DeConMeta(cfg, model)
    meta.load_state_dict(stored)
    assert meta.loaded == PretrainRecord.from_dict(stored) and meta.loaded.decoder == "fcn"
    assert meta.state_dict()["iteration"] == 0  # a resumed run records its own values again
