"""Bounded disk and readable resumes (decon_d2/engine/checkpoint_files.py, checkpoint.py):
retention counts every checkpoint in the folder (earlier slots' and stop checkpoints too) and
never deletes what last_checkpoint names or model_final.pth; interrupted writes are swept; an
unreadable newest checkpoint falls back to the previous one; writes are fsync'ed."""
import logging
import os

import pytest
import torch
from torch import nn

from decon_d2.engine.checkpoint import DeConCheckpointer
from decon_d2.engine.checkpoint_files import prune, resume_candidates, sweep_temp_files
from decon_d2.utils.atomic import atomic_write


def _touch(folder, *names):
    for n in names:
        (folder / n).write_bytes(b"x")


def _names(folder):
    return sorted(p.name for p in folder.iterdir())


def test_prune_counts_every_file_in_the_folder_and_spares_last_and_final(tmp_path):
    # files of an earlier slot (0..40, a stop checkpoint at 37) and of this one (50, 60)
    _touch(tmp_path, "model_0000009.pth", "model_0000019.pth", "model_0000029.pth",
           "model_0000037.pth", "model_0000049.pth", "model_0000059.pth", "model_final.pth",
           "metrics.json")
    (tmp_path / "last_checkpoint").write_text("model_0000009.pth")  # e.g. a fallback resume
    deleted = prune(tmp_path, keep=3)
    assert sorted(deleted) == ["model_0000019.pth", "model_0000029.pth"]
    assert _names(tmp_path) == ["last_checkpoint", "metrics.json", "model_0000009.pth",
                                "model_0000037.pth", "model_0000049.pth", "model_0000059.pth",
                                "model_final.pth"]
    assert prune(tmp_path, keep=0) == []  # 0 keeps all


def test_sweep_removes_interrupted_writes_only(tmp_path):
    _touch(tmp_path, ".model_0000009.pth.abc123.tmp", ".last_checkpoint.x1.tmp",
           "model_0000009.pth", ".hidden_user_file", "notes.tmp")
    assert sorted(sweep_temp_files(tmp_path)) == [".last_checkpoint.x1.tmp",
                                                 ".model_0000009.pth.abc123.tmp"]
    assert _names(tmp_path) == [".hidden_user_file", "model_0000009.pth", "notes.tmp"]


def _checkpointer(folder, value=0.0, keep=0):
    model = nn.Linear(2, 2)
    with torch.no_grad():
        model.weight.fill_(value)
    ckpt = DeConCheckpointer(model, str(folder))
    ckpt.max_keep = keep
    return ckpt


def test_save_prunes_across_the_folder(tmp_path):
    _touch(tmp_path, "model_0000001.pth", "model_0000002.pth")  # an earlier slot's
    ckpt = _checkpointer(tmp_path, keep=2)
    ckpt.save("model_0000003", iteration=3)
    ckpt.save("model_final", iteration=4)
    assert _names(tmp_path) == ["last_checkpoint", "model_0000002.pth", "model_0000003.pth",
                                "model_final.pth"]


def test_unreadable_newest_checkpoint_falls_back_to_the_previous(tmp_path, caplog):
    for it, value in ((1, 1.0), (2, 2.0)):
        _checkpointer(tmp_path, value).save(f"model_{it:07d}", iteration=it)
    newest = tmp_path / "model_0000002.pth"
    newest.write_bytes(newest.read_bytes()[: newest.stat().st_size // 2])  # truncated
    assert resume_candidates(tmp_path)[0] == str(newest)
    fresh = _checkpointer(tmp_path, 0.0)
    with caplog.at_level(logging.WARNING, logger="decon_d2"):
        extra = fresh.resume_or_load("", resume=True)
    assert extra["iteration"] == 1 and fresh.model.weight.eq(1.0).all()
    assert fresh.resumed_from == str(tmp_path / "model_0000001.pth")
    assert "Cannot read checkpoint" in caplog.text and "model_0000001.pth" in caplog.text
    newest.unlink()
    (tmp_path / "model_0000001.pth").write_bytes(b"garbage")
    with pytest.raises(RuntimeError, match="no readable checkpoint"):
        _checkpointer(tmp_path).resume_or_load("", resume=True)


def test_atomic_write_syncs_the_data_before_the_rename(tmp_path, monkeypatch):
    synced = []
    real = os.fsync
    monkeypatch.setattr(os, "fsync", lambda fd: (synced.append(fd), real(fd)))
    with atomic_write(tmp_path / "f.bin") as f:
        f.write(b"data")
        assert not synced  # not before the data is written
    assert len(synced) == 2 and (tmp_path / "f.bin").read_bytes() == b"data"  # file, folder


def test_a_state_that_does_not_load_is_an_error_not_a_fallback(tmp_path, caplog):
    """Only reading the file falls back; an optimizer of another shape must surface as it is."""
    model = nn.Linear(2, 2)
    ckpt = DeConCheckpointer(model, str(tmp_path),
                             optimizer=torch.optim.SGD(model.parameters(), lr=0.1))
    for it in (1, 2):
        ckpt.save(f"model_{it:07d}", iteration=it)
    other = nn.Linear(2, 2)
    groups = [{"params": [other.weight]}, {"params": [other.bias]}]
    fresh = DeConCheckpointer(other, str(tmp_path), optimizer=torch.optim.SGD(groups, lr=0.1))
    with caplog.at_level(logging.WARNING, logger="decon_d2"), pytest.raises(ValueError):
        fresh.resume_or_load("", resume=True)
    assert "Cannot read checkpoint" not in caplog.text
