"""``add_input_keys(cfg)``: the ``INPUT.DECON.*`` keys of the two-view mapper.

Defaults are the DeCon/SlotCon pre-training recipe (docs/method.md §3.1). Pairs that differ between
the two views are ``(view 1, view 2)`` tuples. Read by ``TwoViewMapper.from_config``.
"""
from detectron2.config import CfgNode as CN


def add_input_keys(cfg):
    """Declare every ``INPUT.DECON.*`` key with its default, in place."""
    cfg.INPUT.DECON = CN()
    _C = cfg.INPUT.DECON
    # Side of both square output views, in pixels (RandomResizedCrop output size).
    _C.CROP_SIZE = 224
    # RandomResizedCrop area range, as a fraction of the image area (SlotCon's --min-scale).
    _C.MIN_SCALE = 0.08
    _C.MAX_SCALE = 1.0
    # RandomResizedCrop aspect-ratio (w / h) range.
    _C.RATIO = (3.0 / 4.0, 4.0 / 3.0)
    # Resampling filter of the crop resize ("bicubic", "bilinear" or "nearest"); PIL, antialiased.
    _C.INTERPOLATION = "bicubic"
    # View 2 must share at least this fraction of its own crop area with view 1 ...
    _C.MIN_OVERLAP = 0.01
    # ... in at most this many draws; after that the last (unconstrained) draw is kept.
    _C.OVERLAP_TRIES = 10
    # Probability of a horizontal flip, drawn independently per view.
    _C.FLIP_PROB = 0.5
    # False: no photometric augmentation at all (geometry only; used by tests and debugging).
    _C.PHOTOMETRIC = True
    # ColorJitter strengths: brightness, contrast, saturation, hue.
    _C.COLOR_JITTER = (0.4, 0.4, 0.2, 0.1)
    # Probability that ColorJitter is applied (same for both views).
    _C.COLOR_JITTER_PROB = 0.8
    # Probability of converting a view to (3-channel) grayscale.
    _C.GRAYSCALE_PROB = 0.2
    # Gaussian blur sigma range, drawn uniformly per application.
    _C.BLUR_SIGMA = (0.1, 2.0)
    # Gaussian blur kernel radius in sigmas (side 2*ceil(4 sigma)+1; see decon_d2/data/blur.py).
    _C.BLUR_TRUNCATE = 4.0
    # Probability of Gaussian blur for (view 1, view 2): asymmetric views.
    _C.BLUR_PROB = (1.0, 0.1)
    # Probability of solarisation for (view 1, view 2).
    _C.SOLARIZE_PROB = (0.0, 0.2)
    # Solarisation threshold on 0-255 pixel values: values >= it are inverted.
    _C.SOLARIZE_THRESHOLD = 128
    # Unreadable images in a row (while producing one sample) before the loader gives up.
    _C.MAX_CORRUPT_IN_A_ROW = 100
    return cfg
