"""Probe one frozen backbone on a train/val pair: extract once, then one linear probe per level.

Shared by the command line (``python -m decon_d2.probe``) and the online probe hook of
pre-training, so both measure exactly the same thing.
"""
import logging
import time
from typing import Callable, Dict, Iterable, List

import torch

from .data import ProbeSet
from .features import extract_features
from .linear import ProbeSettings, confusion_matrix, segmentation_scores, train_linear

__all__ = ["probe_features"]

logger = logging.getLogger(__name__)


def probe_features(
    forward: Callable[[torch.Tensor, List[str]], Dict[str, torch.Tensor]],
    pixel_mean,
    pixel_std,
    train: ProbeSet,
    val: ProbeSet,
    levels: Iterable[str],
    settings: ProbeSettings = ProbeSettings(),
    *,
    extract_batch: int = 16,
    label: str = "",
) -> Dict[str, Dict]:
    """``{level: scores}`` (``linear.segmentation_scores`` plus ``seconds``) for ``levels``.

    ``forward(x, levels)`` maps normalised RGB images to feature maps in eval mode, no grad.
    """
    levels = list(levels)
    if not levels:
        return {}
    t0 = time.perf_counter()

    def progress(what):
        def report(done, total):
            if done == total or done % (extract_batch * 8) == 0:
                rate = (time.perf_counter() - t0) / max(done, 1)
                logger.info(f"probe {label}: {what} features {done}/{total} "
                            f"({rate:.2f} s/image so far)")
        return report

    def run(images, like=None, what="train"):
        return extract_features(lambda x: forward(x, levels), images, levels, pixel_mean,
                                pixel_std, batch_size=extract_batch, like=like,
                                progress=progress(what))

    tr = run(train.images)
    va = run(val.images, like=tr, what="val")
    t_extract = time.perf_counter() - t0
    k = len(train.classes.names)
    results = {}
    for level in levels:
        t1 = time.perf_counter()
        tr[level].fit_standardisation()
        va[level].with_stats_of(tr[level])
        clf = train_linear(tr[level], train.labels, k, settings)
        cm = confusion_matrix(clf, va[level], val.labels, k)
        scores = segmentation_scores(cm, val.classes.background, val.classes.names)
        scores["seconds"] = round(time.perf_counter() - t1 + t_extract / len(levels), 2)
        results[level] = scores
        logger.info(f"probe {label} {level}: mIoU {scores['mIoU']:.2f}, foreground mIoU "
                    f"{scores['mIoU_fg']:.2f}, pixel acc {scores['pixel_acc']:.2f} "
                    f"({time.perf_counter() - t1:.1f} s to fit and score)")
        del tr[level], va[level]
    logger.info(f"probe {label}: {time.perf_counter() - t0:.1f} s in all "
                f"({t_extract:.1f} s extracting {len(train) + len(val)} images)")
    return results
