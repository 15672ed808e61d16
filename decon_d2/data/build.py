"""``build_pretrain_train_loader``: Detectron2's train loader fed by the two-view mapper.

It is ``build_detection_train_loader`` with three choices fixed for image-only pre-training:
records from ``get_detection_dataset_dicts(..., filter_empty=False)`` (there are no annotations
to filter), corrupt images replaced and counted by ``ReplaceCorruptDataset`` (instead of
Detectron2's silent ``MapDataset`` retry), and aspect-ratio grouping off (every view is square,
and the records carry no ``width``/``height``). Batches are ``list[dict]`` (trivial collator),
``SOLVER.IMS_PER_BATCH`` in total across processes, loaded by ``DATALOADER.NUM_WORKERS`` workers.
"""
import os
import signal
import threading
from typing import Optional

from detectron2.config import configurable
from detectron2.data import (
    DatasetFromList, build_detection_train_loader, get_detection_dataset_dicts,
)
from torch.utils.data import get_worker_info

from .corrupt import ReplaceCorruptDataset
from .two_view_mapper import TwoViewMapper


def _exit_on_parents_sigterm() -> None:
    """Take SIGTERM in a thread; exit only when the training process sent it (its loader
    shutting workers down), as PyTorch's own worker handler does; SIGUSR1 is ignored."""
    signal.signal(signal.SIGUSR1, signal.SIG_IGN)
    signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGTERM})
    parent = os.getppid()

    def wait():
        while True:
            if signal.sigwaitinfo({signal.SIGTERM}).si_pid == parent:
                os._exit(0)

    threading.Thread(target=wait, name="sigterm-from-parent", daemon=True).start()


class _WorkerIgnoresStopSignals:
    """Mapper wrapper: a loader worker survives SIGTERM/SIGUSR1 from anyone but its parent
    (set up at its first sample).

    Schedulers signal every process of a job; the training process checkpoints and stops at the
    next iteration (decon_d2/engine/preemption.py) and needs its workers until then."""

    def __init__(self, mapper):
        self.mapper, self._pid = mapper, None

    def __call__(self, record):
        if self._pid != os.getpid():
            self._pid = os.getpid()
            if get_worker_info() is not None:
                _exit_on_parents_sigterm()
        return self.mapper(record)


def _pretrain_loader_from_config(cfg, mapper=None, dataset=None):
    if cfg.DATALOADER.SAMPLER_TRAIN != "TrainingSampler":
        raise ValueError(
            f"pre-training supports DATALOADER.SAMPLER_TRAIN 'TrainingSampler' only, got "
            f"'{cfg.DATALOADER.SAMPLER_TRAIN}' (the others need annotations)"
        )
    if dataset is None:
        dataset = get_detection_dataset_dicts(cfg.DATASETS.TRAIN, filter_empty=False)
    return {
        "dataset": dataset,
        "mapper": TwoViewMapper(cfg) if mapper is None else mapper,
        "total_batch_size": cfg.SOLVER.IMS_PER_BATCH,
        "num_workers": cfg.DATALOADER.NUM_WORKERS,
        "max_corrupt_in_a_row": cfg.INPUT.DECON.MAX_CORRUPT_IN_A_ROW,
    }


@configurable(from_config=_pretrain_loader_from_config)
def build_pretrain_train_loader(
    dataset,
    *,
    mapper,
    total_batch_size: int,
    num_workers: int = 0,
    max_corrupt_in_a_row: int = 100,
    sampler=None,
    seed: Optional[int] = None,
):
    """An infinite loader of two-view batches; call as ``build_pretrain_train_loader(cfg)``.

    Args:
        dataset: list of records (``{"file_name", "image_id"}``) or a map-style dataset of them.
        mapper: record -> two-view sample or ``None`` (e.g. ``TwoViewMapper``).
        total_batch_size: images per step over all processes (``SOLVER.IMS_PER_BATCH``).
        num_workers: data-loader worker processes (``DATALOADER.NUM_WORKERS``).
        max_corrupt_in_a_row: see ``ReplaceCorruptDataset``.
        sampler: defaults to Detectron2's infinite, shuffled, rank-sharded ``TrainingSampler``.
        seed: seed of the DataLoader's generator (worker seeds), as in Detectron2.
    """
    if isinstance(dataset, list):
        dataset = DatasetFromList(dataset, copy=False)  # serialised: cheap to share with workers
    if num_workers > 0:
        mapper = _WorkerIgnoresStopSignals(mapper)
    dataset = ReplaceCorruptDataset(dataset, mapper, max_in_a_row=max_corrupt_in_a_row)
    return build_detection_train_loader(
        dataset,
        mapper=None,
        sampler=sampler,  # None: Detectron2's TrainingSampler(len(dataset))
        total_batch_size=total_batch_size,
        aspect_ratio_grouping=False,
        num_workers=num_workers,
        seed=seed,
    )
