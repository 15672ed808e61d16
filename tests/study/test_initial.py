"""The study's iteration-0 baseline (tools/study/initial.py) is the network a fresh
pre-training run with the same seed starts from, tensor for tensor."""
import torch
from detectron2.utils.env import seed_all_rng

from decon_d2.engine import PretrainTrainer
from tools.study.initial import save_initial_checkpoint
from tools.paths import config_path
from tests.helpers import instant_test_cfg


def test_initial_checkpoint_equals_the_runs_starting_network(tmp_path):
    path = save_initial_checkpoint(config_path("quick_schedules/slotcon_instant_test.yaml"), 3,
                                   tmp_path / "init" / "slotcon_s3.pth")
    saved = torch.load(path, weights_only=False)
    assert saved["decon_meta"]["iteration"] == 0
    seed_all_rng(3)  # as default_setup does in train_net.py
    trainer = PretrainTrainer(instant_test_cfg("slotcon", "SEED", 3, output_dir=tmp_path))
    model = trainer.model.state_dict()
    student = [k for k in model if k.startswith("student.")]
    assert student and all(torch.equal(saved["model"][k], model[k]) for k in student)
    # teacher = student in the file, as the fresh-run hook makes it
    assert all(torch.equal(saved["model"]["teacher." + k[len("student."):]], model[k])
               for k in student if "teacher." + k[len("student."):] in saved["model"])
    seed_all_rng(4)
    other = PretrainTrainer(instant_test_cfg("slotcon", "SEED", 4, output_dir=tmp_path / "4"))
    assert not all(torch.equal(saved["model"][k], other.model.state_dict()[k]) for k in student)
