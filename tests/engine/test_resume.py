"""Automatic resume, never a silent overwrite (decon_d2/engine/resume.py): a restarted job
resumes by itself; a fresh start into a folder that holds a run stops with the three fixes;
a resumed checkpoint of another recipe stops, naming the keys."""
import pytest

from decon_d2.engine import PretrainTrainer
from decon_d2.engine.resume import (
    OutputDirError, check_output_dir, decide_resume, record_mismatches,
)
from decon_d2.weights import PretrainRecord
from tests.helpers import instant_test_cfg


@pytest.mark.parametrize("env,expected", [
    ({}, False), ({"SLURM_RESTART_COUNT": "0"}, False), ({"SLURM_RESTART_COUNT": "2"}, True),
    ({"TORCHELASTIC_RESTART_COUNT": "1"}, True), ({"TORCHELASTIC_RESTART_COUNT": ""}, False),
])
def test_a_restarted_job_resumes_by_itself(env, expected):
    assert decide_resume(False, env) is expected
    assert decide_resume(True, env) is True


def test_a_fresh_start_into_a_run_stops_with_the_fixes(tmp_path):
    check_output_dir(str(tmp_path), resume=False, overwrite=False)  # empty: fine
    (tmp_path / "log.txt").write_text("a run that died before its first checkpoint")
    check_output_dir(str(tmp_path), resume=False, overwrite=False)
    for n in ("model_0000009.pth", "model_final.pth"):
        (tmp_path / n).write_bytes(b"x")
    (tmp_path / "last_checkpoint").write_text("model_final.pth")
    with pytest.raises(OutputDirError) as e:
        check_output_dir(str(tmp_path), resume=False, overwrite=False)
    for fix in ("--resume", "new folder", "--overwrite", "model_final.pth"):
        assert fix in str(e.value)
    check_output_dir(str(tmp_path), resume=True, overwrite=False)
    assert (tmp_path / "model_final.pth").exists()
    check_output_dir(str(tmp_path), resume=False, overwrite=True)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["log.txt"]


def test_record_mismatches_name_the_keys():
    old = PretrainRecord(variant="decon_ml", global_batch=512, max_iter=100, crop_size=224, seed=0)
    assert record_mismatches(old, old) == []
    new = PretrainRecord(variant="decon_sl", global_batch=256, max_iter=100, crop_size=224, seed=0)
    bad = record_mismatches(old, new)
    assert len(bad) == 2 and "SOLVER.IMS_PER_BATCH: checkpoint 512, config 256" in bad[1]
    assert "decon_ml" in bad[0]
    assert record_mismatches(PretrainRecord(), new) == []  # an older file states none


@pytest.mark.slow
def test_resuming_another_recipe_stops_before_training(tmp_path):
    trainer = PretrainTrainer(instant_test_cfg("decon_ml", output_dir=tmp_path))
    trainer.resume_or_load(resume=False)
    trainer.checkpointer.save("model_0000000", iteration=0)
    other = PretrainTrainer(instant_test_cfg("decon_ml", "SEED", 7, "INPUT.DECON.CROP_SIZE", 96,
                                             output_dir=tmp_path))
    with pytest.raises(OutputDirError) as e:
        other.resume_or_load(resume=True)
    assert "SEED: checkpoint 0, config 7" in str(e.value)
    assert "INPUT.DECON.CROP_SIZE: checkpoint 64, config 96" in str(e.value)
