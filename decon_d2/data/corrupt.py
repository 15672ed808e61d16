"""Replacing corrupt images with other samples, and counting how many were replaced.

Detectron2's ``MapDataset`` already retries another index when the mapper returns ``None``, but
nothing leaves it to count, and when every image is bad it fails with an unrelated error from
``random.sample``. ``ReplaceCorruptDataset`` does the same job visibly:

- each sample carries ``num_corrupt_replaced``: how many corrupt records (the sampled one, then
  any bad replacement) were skipped to produce it; ``count_corrupt(batch)`` sums a batch, for the
  engine to accumulate into ``EventStorage``;
- bad indices are remembered (per process: each data-loader worker keeps its own set), so a known
  bad file is counted again when sampled but never re-read, and replacements are drawn only among
  indices not known to be bad;
- ``max_in_a_row`` bad records while producing one sample, or every record known bad, raise a
  ``RuntimeError`` naming the last path instead of looping for ever.

The path of each bad file is logged once per process by ``image_io.read_rgb``.
"""
from typing import Callable, Iterable, Optional, Set

import torch
import torch.utils.data as torchdata

CORRUPT_KEY = "num_corrupt_replaced"


class ReplaceCorruptDataset(torchdata.Dataset):
    """Map-style dataset: ``mapper(dataset[i])``, with ``None`` results replaced and counted."""

    def __init__(
        self, dataset, mapper: Callable[[dict], Optional[dict]], max_in_a_row: int = 100
    ):
        self.dataset = dataset
        self.mapper = mapper
        self.max_in_a_row = max_in_a_row
        self._bad: Set[int] = set()

    def __len__(self) -> int:
        return len(self.dataset)

    def _draw_good_candidate(self) -> int:
        n = len(self.dataset)
        while True:  # terminates: callers ensure some index is not known bad
            idx = int(torch.randint(n, ()))
            if idx not in self._bad:
                return idx

    def __getitem__(self, idx: int) -> dict:
        replaced, idx = 0, int(idx)
        while True:
            record = None
            if idx not in self._bad:
                record = self.dataset[idx]
                sample = self.mapper(record)
                if sample is not None:
                    sample[CORRUPT_KEY] = replaced
                    return sample
                self._bad.add(idx)
            replaced += 1
            if len(self._bad) >= len(self.dataset) or replaced >= self.max_in_a_row:
                last = (record or self.dataset[idx]).get("file_name", f"index {idx}")
                raise RuntimeError(
                    f"{replaced} unreadable images in a row while producing one sample "
                    f"({len(self._bad)} of {len(self.dataset)} records known bad in this "
                    f"process; last: {last}). The data set looks broken: check its files."
                )
            idx = self._draw_good_candidate()


def count_corrupt(batch: Iterable[dict]) -> int:
    """Corrupt images replaced to produce ``batch`` (a list of mapped samples)."""
    return sum(int(sample.get(CORRUPT_KEY, 0)) for sample in batch)
