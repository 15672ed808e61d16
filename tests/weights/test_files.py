"""One reader per weights format (decon_d2/weights/files.py), each on a small file of its
format, and the converter's temporary ``.pkl`` writer."""
import argparse
import hashlib
import os
import pickle

import numpy as np
import pytest
import torch

from decon_d2.weights import (MSRA_CONVENTIONS, TORCHVISION_CONVENTIONS, ConvertedRecord,
                              PretrainRecord, WeightsReadError, read_pkl, read_torch,
                              read_weights, write_pkl_tmp)


class _Trusted:
    """An object a trusted checkpoint might pickle (weights_only refuses it)."""


@pytest.fixture(scope="module")
def resnet18():
    import torchvision

    torch.manual_seed(0)
    return torchvision.models.resnet18(weights=None).state_dict()


def _ours(resnet18):
    """A decon-d2 checkpoint's shape: two branches' backbones plus a head."""
    w = resnet18["conv1.weight"]
    return {"teacher.backbone.bottom_up.stem.conv1.weight": w,
            "student.backbone.bottom_up.stem.conv1.weight": w + 1,
            "student.heads.res5.projector.0.weight": torch.ones(2, 2)}


def test_decon_checkpoint_reads_with_its_record(resnet18, tmp_path):
    path = tmp_path / "model_final.pth"
    meta = PretrainRecord(variant="encoder_only", ssl_head="DenseCLHead", export_branch="student",
                          iteration=7, decoder_type="", decoder_levels=[]).to_dict()
    torch.save({"model": _ours(resnet18), "iteration": 7, "decon_meta": meta,
                "trainer": {"iteration": 7}}, path)
    f = read_torch(str(path))
    assert f.layout == "ours" and isinstance(f.record, PretrainRecord)
    assert f.record.variant == "densecl" and f.export_branch == "student"
    assert f.iteration == 7 and f.epoch is None and f.conventions == f.record.conventions
    assert f.sha256 == hashlib.sha256(path.read_bytes()).hexdigest() and f.path == str(path)
    assert "variant densecl" in f.origin and set(f.state_dict) == set(_ours(resnet18))
    assert f.pretrain_record.iteration == 7


def test_authors_file_reads_with_namespace_args_and_prefix(resnet18, tmp_path):
    path = tmp_path / "current.pth"
    model = {f"module.encoder_{t}.{k}": v for t in "kq" for k, v in resnet18.items()}
    torch.save({"model": model, "args": argparse.Namespace(arch="resnet50"), "epoch": 800}, path)
    f = read_torch(str(path))
    assert f.layout == "authors" and f.record is None and f.epoch == 800
    assert "encoder_k.conv1.weight" in f.state_dict  # DDP prefix stripped
    assert f.conventions.input_format == "RGB" and f.conventions.norm == "SyncBN"
    assert f.pretrain_record.missing and f.export_branch is None


def test_torchvision_state_dict_reads(resnet18, tmp_path):
    path = tmp_path / "resnet18.pth"
    torch.save(resnet18, path)
    f = read_weights(str(path))
    assert f.layout == "torchvision" and f.origin == "torchvision ResNet"
    assert f.conventions.pixel_mean == TORCHVISION_CONVENTIONS.pixel_mean
    assert f.conventions.norm == "BN" and torch.equal(f.state_dict["fc.weight"],
                                                      resnet18["fc.weight"])


def test_pickled_objects_need_unsafe_load(resnet18, tmp_path):
    path = tmp_path / "trusted.pth"
    torch.save({"model": dict(resnet18), "extra": _Trusted()}, path)
    with pytest.raises(WeightsReadError, match="--unsafe-load"):
        read_torch(str(path))
    assert read_torch(str(path), unsafe_load=True).layout == "torchvision"
    torch.save([resnet18["conv1.weight"]], tmp_path / "list.pth")
    with pytest.raises(WeightsReadError, match="expected a dict, got list"):
        read_torch(str(tmp_path / "list.pth"))
    with pytest.raises(WeightsReadError, match="not a readable PyTorch checkpoint"):
        read_torch(str(tmp_path / "absent.pth"))


def test_converted_pkl_reads_with_its_record(tmp_path):
    record = ConvertedRecord(variant="decon_sl", exported=["encoder", "fpn"], branch="teacher",
                             source_layout="ours", iteration=41, input_format="RGB")
    model = {"backbone.bottom_up.stem.conv1.weight": np.ones((4, 3, 7, 7), np.float32)}
    tmp = write_pkl_tmp(str(tmp_path / "out.pkl"), model, record)
    os.replace(tmp, tmp_path / "out.pkl")
    f = read_weights(str(tmp_path / "out.pkl"))
    assert f.layout == "detectron2" and f.record == record and f.iteration == 41
    assert f.author == "decon-d2" and f.matching_heuristics is False
    assert f.conventions == record.conventions and f.export_branch is None
    assert f.state_dict["backbone.bottom_up.stem.conv1.weight"].shape == (4, 3, 7, 7)
    with open(tmp_path / "out.pkl", "rb") as fh:  # the file format itself
        assert pickle.load(fh)["decon_meta"] == record.to_dict()


def test_other_detectron2_pickles_read_as_detectron2_does(tmp_path):
    zoo = {"model": {"stem.conv1.weight": np.zeros((2, 3, 1, 1), np.float32)},
           "__author__": "torchvision", "matching_heuristics": True}
    (tmp_path / "zoo.pkl").write_bytes(pickle.dumps(zoo))
    f = read_pkl(str(tmp_path / "zoo.pkl"))
    assert f.record is None and f.conventions == TORCHVISION_CONVENTIONS
    assert f.matching_heuristics and f.origin == "Detectron2 .pkl by 'torchvision'"
    blobs = {"blobs": {"conv1_w": np.zeros((2, 3, 1, 1), np.float32),
                       "res2_0_branch2a_w": np.zeros((2, 2, 1, 1), np.float32),
                       "res2_0_branch2a_w_momentum": np.zeros((2, 2, 1, 1), np.float32)}}
    (tmp_path / "msra.pkl").write_bytes(pickle.dumps(blobs))
    f = read_pkl(str(tmp_path / "msra.pkl"))
    assert set(f.state_dict) == {"stem.conv1.weight", "res2.0.conv1.weight"}
    assert f.conventions == MSRA_CONVENTIONS and f.author is None and "Caffe2" in f.origin
    (tmp_path / "list.pkl").write_bytes(pickle.dumps([1, 2]))
    with pytest.raises(WeightsReadError, match="not a Detectron2 weights pickle"):
        read_pkl(str(tmp_path / "list.pkl"))


def test_pkl_writer_leaves_nothing_behind_on_failure(tmp_path):
    with pytest.raises((pickle.PicklingError, AttributeError, TypeError)):
        write_pkl_tmp(str(tmp_path / "out.pkl"), {"x": lambda: 0}, ConvertedRecord())
    assert os.listdir(tmp_path) == []
