"""Checkpoints as ``train_net.py`` writes them, with non-trivial norm statistics so that
eval-mode features depend on every loaded tensor (converter round trips)."""
import torch
from detectron2.checkpoint import DetectionCheckpointer
from detectron2.modeling import build_model

from decon_d2.engine.checkpoint import DeConMeta

__all__ = ["perturb_norm_stats", "save_decon_checkpoint"]


def perturb_norm_stats(named_buffers, named_params, seed=0):
    """Non-trivial BN statistics (and non-zero last-norm gammas), so that eval-mode features
    depend on every loaded tensor (converter round trips)."""
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for n, b in named_buffers:
            if n.endswith("running_var"):
                b.copy_(torch.rand(b.shape, generator=g) * 1.5 + 0.5)
            elif n.endswith("running_mean"):
                b.copy_(torch.rand(b.shape, generator=g) * 0.4 - 0.2)
        for n, p in named_params:
            if n.endswith(("bn3.weight", "conv3.norm.weight")):  # zero-init gammas
                p.copy_(torch.rand(p.shape, generator=g) * 0.5 + 0.5)


def save_decon_checkpoint(cfg, folder, with_config, iteration=41):
    """A randomly initialised DeCon model of ``cfg`` (norm statistics perturbed) saved as
    ``train_net.py`` would (``model_final.pth`` with ``decon_meta``; ``config.yaml`` beside it
    when ``with_config``); returns the checkpoint path."""
    torch.manual_seed(0)
    model = build_model(cfg)
    perturb_norm_stats(model.named_buffers(), model.named_parameters())
    meta = DeConMeta(cfg, model, lambda: iteration).state_dict()
    DetectionCheckpointer(model, str(folder)).save("model_final", iteration=iteration,
                                                   decon_meta=meta)
    if with_config:
        (folder / "config.yaml").write_text(cfg.dump())
    return folder / "model_final.pth"
