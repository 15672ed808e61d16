"""The checkpoint size counted on the meta device (decon_d2/engine/checkpoint_size.py) is the
size of the file a real run writes: the reference run's model_final.pth (2 processes, LARS)."""
from decon_d2.engine.checkpoint_size import checkpoint_size
from tests.helpers import instant_test_cfg


def test_counted_size_is_the_written_file(reference_run):
    size = checkpoint_size(instant_test_cfg("decon_ml"))
    written = (reference_run / "model_final.pth").stat().st_size
    assert size.optimizer_bytes > 0 and size.trainable_params * 4 == size.optimizer_bytes
    # what the count leaves out (scheduler, decon_meta, pickle headers) is kilobytes per tensor
    assert size.total_bytes <= written <= size.total_bytes + 1024 * size.tensors, \
        (size, written)
    assert size.run_bytes(keep=3, written=40) == 5 * size.total_bytes
    assert size.run_bytes(keep=0, written=40) == 42 * size.total_bytes
