"""The pre-training loader: Detectron2's train loader with the two-view mapper."""
import pytest
import torch
from detectron2.config import get_cfg

from decon_d2.config import add_decon_config
from decon_d2.data import build_pretrain_train_loader, count_corrupt


pytestmark = pytest.mark.usefixtures("one_torch_thread")


def _cfg(num_workers):
    cfg = add_decon_config(get_cfg())
    cfg.DATASETS.TRAIN = ("decon_demo_unlabeled",)
    cfg.SOLVER.IMS_PER_BATCH = 3
    cfg.DATALOADER.NUM_WORKERS = num_workers
    cfg.INPUT.DECON.CROP_SIZE = 64  # small views keep the test fast; the default is 224
    return cfg


@pytest.mark.parametrize("num_workers", [0, 2])
def test_loader_yields_batches_of_two_view_samples(num_workers):
    loader = build_pretrain_train_loader(_cfg(num_workers))
    assert isinstance(loader, torch.utils.data.DataLoader)
    assert loader.num_workers == num_workers and loader.batch_size == 3  # no aspect grouping
    it = iter(loader)
    for _ in range(2):
        batch = next(it)
        assert isinstance(batch, list) and len(batch) == 3
        for s in batch:
            assert s["view1"].shape == s["view2"].shape == (3, 64, 64)
            assert s["view1"].dtype == torch.uint8 and s["box1"].shape == (4,)
            assert isinstance(s["flip1"], bool) and s["num_corrupt_replaced"] == 0
        assert count_corrupt(batch) == 0


def test_other_samplers_are_refused():
    cfg = _cfg(0)
    cfg.DATALOADER.SAMPLER_TRAIN = "RepeatFactorTrainingSampler"
    with pytest.raises(ValueError, match="TrainingSampler"):
        build_pretrain_train_loader(cfg)
