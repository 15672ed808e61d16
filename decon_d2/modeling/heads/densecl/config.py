"""``add_densecl_config(cfg)``: ``MODEL.DECON.DENSECL.*``, the keys of ``DenseCLHead``
(``MODEL.DECON.HEAD.NAME: "DenseCLHead"``; docs/method.md §2.3, §2.4). Its spec (``spec.py``)
hands it to ``add_decon_config``, which adds the node of every registered head. DenseCL's recipe
switches that are not the head's (shuffle-BN, zero-init residual, weight decay on norms and
biases) are general keys: ``decon_d2/config/model.py``, ``solver.py``.
"""
from detectron2.config import CfgNode as CN

__all__ = ["add_densecl_config"]


def add_densecl_config(cfg):
    """Declare every DenseCL key with its default, in place."""
    _C = cfg.MODEL.DECON.DENSECL = CN()
    # Hidden width of the neck's two branches (Linear in->hid->out globally, 1x1 conv
    # in->hid->out densely); DenseCL: 2048 on res5.
    _C.NECK_HIDDEN_DIM = 2048
    # Hidden width of the decoder-level necks (input 256 channels); 0 = NECK_HIDDEN_DIM.
    _C.DEC_NECK_HIDDEN_DIM = 0
    # Output width of both branches = key/query dimension and queue width; DenseCL: 128.
    _C.NECK_OUT_DIM = 128
    # Rows of each negative-key queue (one global, one of pooled dense keys, per head); 65,536.
    _C.QUEUE_LENGTH = 65536
    # Temperature of the global and the dense InfoNCE.
    _C.TEMPERATURE = 0.2
    # lambda in L = (1 - lambda) * L_global + lambda * L_dense.
    _C.LOSS_LAMBDA = 0.5
    # First iterations trained with lambda = 0 (DenseCL's opt-in warm-up hook); 0 = none.
    _C.LAMBDA_WARMUP_ITERS = 0
    # Activation checkpointing of the decoder-level necks (memory dial, off by default): only
    # their input is kept and the neck runs again in backward (same losses and gradients).
    _C.DEC_PROJ_CHECKPOINT = False
    # Query rows per chunk of the InfoNCE logits (memory dial, 0 = off): each chunk's
    # rows x (1 + QUEUE_LENGTH) logits are recomputed in backward instead of kept; the dense
    # loss on p2 has B*56*56 query rows, i.e. 26 GB of fp32 logits at 32 images per GPU.
    _C.LOSS_CHUNK_ROWS = 0
    return cfg
