"""Resumable data stream: a sampler that starts at a given position, and per-sample seeding.

Detectron2's ``TrainingSampler`` restarts its stream on resume, so a resumed run would see the
images of the first iterations again instead of the ones the interrupted run had not reached.
``ResumableTrainingSampler`` skips what was consumed: with the batched loader Detectron2 builds
(``ToIterableDataset(..., shard_chunk_size=batch)``), batch ``i`` of a process is indices
``[i * b, (i + 1) * b)`` of its stream whatever the number of workers, so starting at iteration
``s`` means skipping ``s * b`` indices of this process's stream (cheap: only permutations are
drawn).

Augmentations are random too, and data-loader workers are seeded once when the loader starts, so
a resumed run would draw different crops. With ``seed_samples`` the sampler records, for each
index it hands out, the seed of that stream position, and ``SampleSeededMapper`` seeds
torch/numpy/random with it right before mapping the record: sample ``p`` of the stream gets the
same augmentation in every run, with any number of workers. The hand-over is a per-process
variable: Detectron2's ``ToIterableDataset`` maps each index immediately after drawing it, in the
same process (worker), and the last position drawn before a record is mapped is that record's.
(Setting the variable is cheap, which matters because each worker walks the whole stream.)
"""
import itertools

from detectron2.data.samplers import TrainingSampler

from decon_d2.utils.seeding import position_seed, seed_rngs

_pending_seed = None  # seed of the stream position last handed out in this process


class ResumableTrainingSampler(TrainingSampler):
    def __init__(
        self, size: int, *, seed: int, start_index: int = 0, shuffle: bool = True,
        seed_samples: bool = False,
    ):
        """
        Args:
            size: number of records of the data set.
            seed: shared by all processes (the stream is then split between them, as in
                ``TrainingSampler``); must be the one of the interrupted run.
            start_index: indices of *this process's* stream to skip
                (``start_iter * per-GPU batch``).
            seed_samples: record each position's seed for ``SampleSeededMapper``.
        """
        super().__init__(size, shuffle=shuffle, seed=seed)
        self._start_index = start_index
        self._seed_samples = seed_samples

    def __iter__(self):
        global _pending_seed
        first = self._start_index * self._world_size + self._rank
        stream = itertools.islice(self._infinite_indices(), first, None, self._world_size)
        for pos, idx in enumerate(stream, start=self._start_index):
            if self._seed_samples:
                _pending_seed = (self._seed, self._rank, pos)
            yield idx


class SampleSeededMapper:
    """Wrap a mapper so that each record is mapped under its stream position's seed."""

    def __init__(self, mapper):
        self.mapper = mapper

    def __call__(self, record):
        if _pending_seed is not None:
            seed_rngs(position_seed(*_pending_seed))
        return self.mapper(record)
