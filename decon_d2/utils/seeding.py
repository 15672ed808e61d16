"""Seeds derived from keys, and seeding of every RNG a training step or a mapper draws from.

Exact resume re-seeds before each iteration (``engine/hooks.py``) and before mapping each sample
(``engine/sampler.py``) from seeds that depend only on (SEED, position), never on history.
"""
import random

import numpy as np
import torch

__all__ = ["mixed_seed", "seed_rngs", "iteration_seed", "position_seed"]


def mixed_seed(*keys: int) -> int:
    """A 31-bit seed mixed from ``keys`` by numpy's SeedSequence."""
    return int(np.random.SeedSequence(list(keys)).generate_state(1)[0] % (2**31))


def seed_rngs(seed: int) -> None:
    """Seed torch, numpy and random (Detectron2's ``seed_all_rng`` also writes PYTHONHASHSEED to
    the environment, which this runs too often for: every iteration and every sample)."""
    torch.manual_seed(seed)
    np.random.seed(seed)
    random.seed(seed)


def iteration_seed(base_seed: int, it: int, rank: int) -> int:
    """The seed of training iteration ``it`` on process ``rank``."""
    return mixed_seed(base_seed, it, rank)


def position_seed(seed: int, rank: int, pos: int) -> int:
    """The seed of position ``pos`` of process ``rank``'s sample stream."""
    return mixed_seed(seed, rank, pos, 0x5EED)
