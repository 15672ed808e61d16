"""``add_solver_keys(cfg)``: the optimiser, schedule and precision keys of pre-training.

Detectron2 keys that keep their meaning and are reused rather than duplicated:
``SOLVER.BASE_LR`` (the lr *per 256 images*, scaled by ``SOLVER.DECON.LR_SCALING``),
``SOLVER.BASE_LR_END`` (absolute lr the cosine ends at), ``SOLVER.WARMUP_FACTOR`` (warm-up starts
at this fraction of the lr), ``SOLVER.WARMUP_ITERS`` / ``SOLVER.MAX_ITER`` (used as given when
``SOLVER.DECON.EPOCHS == 0``, else derived from epochs), ``SOLVER.MOMENTUM``,
``SOLVER.WEIGHT_DECAY``, ``SOLVER.IMS_PER_BATCH`` (global batch), ``SOLVER.CHECKPOINT_PERIOD``,
``SOLVER.AMP.ENABLED``, and Detectron2's top-level ``CUDNN_BENCHMARK`` (applied by
``default_setup``). Keep ``SOLVER.REFERENCE_WORLD_SIZE: 0``: Detectron2's auto-scaling would
rescale the batch, lr and iterations a second time.
"""

from detectron2.config import CfgNode as CN


def add_solver_keys(cfg):
    """Declare every ``SOLVER.DECON.*``, ``SOLVER.AMP.PRECISION`` and ``SOLVER.TF32.*`` key with its
    default."""
    _C = cfg.SOLVER
    _C.DECON = CN()
    # Training length in epochs; > 0 derives SOLVER.MAX_ITER = floor(N / global batch) * EPOCHS
    # (drop_last), 0 = use SOLVER.MAX_ITER / SOLVER.WARMUP_ITERS as written.
    _C.DECON.EPOCHS = 0
    # Linear warm-up length in epochs (only when EPOCHS > 0); the paper uses 5.
    _C.DECON.WARMUP_EPOCHS = 0
    # Images per epoch N; 0 = count the records of DATASETS.TRAIN at start.
    _C.DECON.DATASET_SIZE = 0
    # lr = BASE_LR * IMS_PER_BATCH / 256 ("linear_256", the paper) or lr = BASE_LR ("none").
    _C.DECON.LR_SCALING = "linear_256"
    # "LARS" (the paper), "SGD" or "AdamW". Biases and norm parameters get no weight decay
    # (and, for LARS, no trust-ratio scaling) in every case.
    _C.DECON.OPTIMIZER = "LARS"
    # LARS trust coefficient eta: local lr = eta * ||w|| / ||g + wd * w||.
    _C.DECON.LARS_ETA = 0.001
    # AdamW betas (only for OPTIMIZER "AdamW").
    _C.DECON.ADAMW_BETAS = (0.9, 0.999)
    # EMA teacher momentum m0 at iteration 0; cosine from m0 to FINAL (paper: 0.99 -> 1).
    _C.DECON.TEACHER_BASE_MOMENTUM = 0.99
    # EMA teacher momentum at the last iteration.
    _C.DECON.TEACHER_FINAL_MOMENTUM = 1.0
    # Exact resume: seed torch/numpy/random before every iteration from (SEED, iteration, rank)
    # and before mapping every sample from (SEED, rank, stream position), so a resumed run draws
    # the same random numbers (dropout, augmentations, any NUM_WORKERS) as an uninterrupted one.
    # Needs SEED >= 0; ignored otherwise.
    _C.DECON.SEED_EACH_ITER = True
    # model_XXXXXXX.pth files kept in OUTPUT_DIR, periodic and stop checkpoints alike, counted
    # over every file there (earlier slots of a requeued job too): after each save the oldest
    # beyond this many are deleted, never the one last_checkpoint names nor model_final.pth.
    # 0 = keep all (Detectron2's behaviour). A recipe checkpoint is ~2.2 GB (docs/cluster.md).
    _C.DECON.CHECKPOINT_MAX_KEEP = 3
    # Timeout of the process group's collectives, in whole seconds (torch.distributed's timeout): a
    # rank that died or hangs makes the others fail with one message after at most this long
    # instead of waiting forever. 600 s: 8 GPUs idle 10 minutes per hang instead of Detectron2's
    # 30, while the longest legitimate wait (rank 0 writing a ~2.2 GB checkpoint while the others
    # wait in the next step's all-reduce) stays far below it (docs/cluster.md).
    # $DECON_DIST_TIMEOUT_S overrides it.
    _C.DECON.DIST_TIMEOUT_S = 600
    # Weight decay on biases and norm parameters too (DenseCL/MoCo's SGD decays every
    # parameter); False = SlotCon's rule (1-D parameters get none). SGD and AdamW only.
    _C.DECON.WEIGHT_DECAY_NORM_BIAS = False
    # AMP compute dtype when SOLVER.AMP.ENABLED: "float16" (with a GradScaler) or "bfloat16" (none).
    _C.AMP.PRECISION = "float16"
    # TensorFloat-32 on CUDA (Ampere and later; no effect on CPU), applied at set-up and logged
    # (docs/gpu.md, "Settings"). MATMUL: fp32 matrix products (torch's allow_tf32 for matmul;
    # torch's default False); the recipes keep it off because the loss maths run in fp32 on
    # purpose (cosines divided by 0.07-0.2 temperatures). CONV: fp32 convolutions through cuDNN
    # (torch's default True).
    _C.TF32 = CN()
    _C.TF32.MATMUL = False
    _C.TF32.CONV = True
    return cfg
