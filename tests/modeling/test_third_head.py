"""A third loss head is one folder: ``tests/modeling/toy_head/`` declares ``ToyHead`` (its
config node, its own key, its variant names) and nothing else is edited, yet it trains a real
step of the pre-training model, round trips through a checkpoint, is named in the record and
owns its key in the explicit-key check. The fixture undoes the spec's registration, so other
tests see the shipped heads only."""
import dataclasses
import math

import pytest
import torch
from detectron2.modeling import build_model
from detectron2.utils.env import seed_all_rng

from decon_d2.config.explicit_keys import ignored_in_pretraining
from decon_d2.engine import PretrainTrainer
from decon_d2.engine.checkpoint import DeConCheckpointer
from decon_d2.engine.slot_map_hook import SlotMapHook
from decon_d2.head_specs import head_spec, head_specs, register_head, unregister_head
from decon_d2.variants import VARIANTS, variant_name
from decon_d2.weights import PretrainRecord
from tests.helpers import instant_test_cfg

TOY = ("MODEL.DECON.HEAD.NAME", "ToyHead")


@pytest.fixture
def toy():
    from tests.modeling import toy_head  # importing the folder registers the head and its spec

    register_head(toy_head.SPEC)  # again after an earlier test's teardown; else a no-op
    yield toy_head.SPEC
    unregister_head(toy_head.SPEC.name)


def test_a_third_head_trains_a_step_and_round_trips_through_a_checkpoint(toy, tmp_path):
    seed_all_rng(0)
    cfg = instant_test_cfg("decon_sl", *TOY, "MODEL.DECON.TOY.DIM", 8, "SOLVER.MAX_ITER", 1,
                           output_dir=tmp_path)
    trainer = PretrainTrainer(cfg)
    trainer.resume_or_load(resume=False)
    model = trainer.model
    assert {k: type(h).__name__ for k, h in model.student.heads.items()} == {
        "res5": "ToyHead", "p2": "ToyHead"}
    assert model.variant == "decon_toy_sl" and model.student.heads.p2.projector.out_channels == 8
    before = model.student.heads.p2.projector.weight.detach().clone()
    trainer.train()
    losses = [v for v, _ in trainer.storage.history("total_loss").values()]
    assert len(losses) == 1 and math.isfinite(losses[0]) and losses[0] > 0
    assert not torch.equal(model.student.heads.p2.projector.weight, before)  # it trained

    path = tmp_path / "model_final.pth"
    record = PretrainRecord.from_dict(torch.load(path, weights_only=False)["decon_meta"])
    assert (record.variant, record.ssl_head, record.decoder) == ("decon_toy_sl", "ToyHead", "sl")
    fresh = build_model(cfg)
    DeConCheckpointer(fresh).load(str(path))
    saved, loaded = model.state_dict(), fresh.state_dict()
    assert loaded.keys() == saved.keys() and "teacher.heads.res5.projector.weight" in loaded
    for k in saved:
        assert torch.equal(loaded[k], saved[k]), k


def test_the_explicit_key_check_treats_its_keys_as_the_heads(toy):
    assert ignored_in_pretraining(instant_test_cfg("slotcon", *TOY, "MODEL.DECON.TOY.DIM", 8)) \
        == []
    assert ignored_in_pretraining(instant_test_cfg("slotcon", "MODEL.DECON.TOY.DIM", 8)) == [
        "MODEL.DECON.TOY.DIM is set to 8 but the loss head is SlotConHead "
        "(MODEL.DECON.HEAD.NAME), which does not read it"]
    other = instant_test_cfg("slotcon", *TOY, "MODEL.DECON.SLOTCON.PROJ_IMPL", "conv")
    assert [("SLOTCON.PROJ_IMPL" in w, "ToyHead" in w) for w in ignored_in_pretraining(other)] \
        == [(True, True)]


def test_its_spec_names_its_variants_and_an_unknown_head_is_an_error(toy):
    assert [s.name for s in head_specs()] == ["SlotConHead", "DenseCLHead", "ToyHead"]
    assert variant_name("ToyHead", "", ()) == "toy"
    assert variant_name("ToyHead", "FPN", ("p2", "p3", "p4", "p5")) == "decon_toy_ml"
    assert variant_name("SlotConHead", "FPN", ("p2",)) == "decon_sl"  # the shipped rows stay
    assert PretrainRecord.from_dict({"variant": "encoder_only", "ssl_head": "ToyHead"}).variant \
        == "toy"
    assert "toy" not in VARIANTS  # no catalogue rows: it ships no configs
    for lookup in (lambda: head_spec("FourthHead"),
                   lambda: variant_name("FourthHead", "FPN", ("p2",)),
                   lambda: PretrainRecord.from_dict({"variant": "encoder_only",
                                                     "ssl_head": "FourthHead"})):
        with pytest.raises(KeyError, match="'SlotConHead', 'DenseCLHead', 'ToyHead'"):
            lookup()
    with pytest.raises(ValueError, match="ToyHead has none of"):  # its spec: no slot maps
        SlotMapHook(instant_test_cfg("slotcon", *TOY, "TEST.DECON.VIS_PERIOD", 5))
    with pytest.raises(ValueError, match="'decon_toy_', which ToyHead uses"):
        register_head(dataclasses.replace(toy, name="ToyHead2", node="TOY2",
                                          encoder_only="toy2"))
