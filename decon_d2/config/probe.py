"""``add_probe_keys(cfg)``: monitoring of pre-training (online dense probe, slot maps)."""
from detectron2.config import CfgNode as CN


def add_probe_keys(cfg):
    """Declare every ``TEST.DECON.*`` key with its default."""
    _C = cfg.TEST
    _C.DECON = CN()
    # Online linear probe of the teacher every this many iterations, at the last iteration and,
    # on a fresh run, before the first; 0 = off. Runs on the main process (others wait).
    _C.DECON.PROBE_PERIOD = 0
    # Registered data set (instance masks or sem_seg_file_name) the probe's classifier is fit on.
    _C.DECON.PROBE_TRAIN = ""
    # Registered data set the probe is scored on (same class list as PROBE_TRAIN).
    _C.DECON.PROBE_VAL = ""
    # Feature levels probed; levels the model has no map for (p2 of encoder-only) are skipped.
    _C.DECON.PROBE_LEVELS = ["res5", "p2"]
    # Side (px) images and labels are resized to for the probe; a multiple of 32.
    _C.DECON.PROBE_SIZE = 224
    # First N records of each probe set (0 = all): bounds the cost of each online probe.
    _C.DECON.PROBE_MAX_IMAGES = 0
    # Epochs of the probe's classifier (fixed, as its other settings: docs/probe.md).
    _C.DECON.PROBE_EPOCHS = 20
    # Slot maps of the teacher to TensorBoard every this many iterations (and at the last); 0 = off.
    _C.DECON.VIS_PERIOD = 0
    # Registered data set whose first VIS_NUM_IMAGES images are drawn; "" = PROBE_VAL.
    _C.DECON.VIS_DATASET = ""
    # Number of images in the slot-map grid.
    _C.DECON.VIS_NUM_IMAGES = 4
    # Side (px) of each tile of the grid (a multiple of 32).
    _C.DECON.VIS_SIZE = 128
    return cfg
