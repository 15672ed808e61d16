"""``DenseCLHead``: DenseCL's global + dense contrastive loss on one feature level.

Student head: ``projector`` (the DenseCL neck, ``neck.py``) and two negative-key queues
owned by the student, ``queue_global`` and ``queue_dense`` (K x D, L2-normalised rows), with
their shared write position ``queue_ptr``: buffers, so they live in the checkpoint and a resumed
run continues with exactly the queue it stopped with. Teacher twin (``make_teacher``): the neck
only, frozen, EMA-updated by the meta-architecture (DenseCL's key encoder, momentum 0.999).

As DenseCL (and MoCo v2), the loss is asymmetric: queries come from view 1 through the student,
keys from view 2 through the teacher (``student_views``/``teacher_views`` tell the
meta-architecture which forwards to run). Level loss (docs/method.md §2.3):

    (1 - lambda) * InfoNCE(q, k, queue_global) + lambda * InfoNCE(q_grid, k_grid[j*], queue_dense)

with j*(i) the key cell most similar to query cell i in the head's *input* features (res5 for the
encoder head as in DenseCL; the decoder level itself for decoder heads, docs/method.md §2.4).
After the loss (training only) the teacher's global keys and pooled dense keys of every process
are enqueued.
"""
import torch
import torch.nn.functional as F
from detectron2.config import configurable
from torch import nn

from ...dist import concat_all_gather
from ..build import SSL_HEAD_REGISTRY
from ...precision import fp32, no_autocast
from .neck import DenseCLNeck
from .ops import dense_correspondence, enqueue_, gather_positives, info_nce

__all__ = ["DenseCLHead"]


@SSL_HEAD_REGISTRY.register()
class DenseCLHead(nn.Module):
    """DenseCL loss head. See the module docstring and ``SSL_HEAD_REGISTRY.__doc__``.

    Args:
        in_channels: channels of the feature map it reads (2048 for res5, 256 for FPN levels).
        hidden_dim, out_dim: neck widths (out_dim = key dimension = queue width).
        queue_length: rows K of each queue.
        temperature: of both InfoNCE terms.
        loss_lambda: weight of the dense term.
        proj_checkpoint: activation checkpointing of the neck's dense branch (memory dial).
        loss_chunk_rows: > 0 computes the InfoNCE terms in row chunks, recomputed in backward.
        role: "student" (with the queues) or "teacher" (twin, frozen).
    """

    student_views = (0,)
    teacher_views = (1,)
    export_branch = "student"

    @configurable
    def __init__(self, *, in_channels, hidden_dim, out_dim, queue_length, temperature,
                 loss_lambda, proj_checkpoint=False, loss_chunk_rows=0, role="student"):
        super().__init__()
        assert role in ("student", "teacher"), role
        self._kwargs = {k: v for k, v in locals().items() if k not in ("self", "__class__")}
        self.role = role
        self.temperature = temperature
        self.loss_lambda = loss_lambda
        self.loss_chunk_rows = loss_chunk_rows
        # Set by the engine's DenseLossWarmupHook: lambda is 0 while True (DenseCL's warm-up).
        self.dense_warmup = False
        self.projector = DenseCLNeck(in_channels, hidden_dim, out_dim, checkpoint=proj_checkpoint)
        if role == "student":
            for name in ("queue_global", "queue_dense"):
                self.register_buffer(name, F.normalize(torch.randn(queue_length, out_dim), dim=1))
            self.register_buffer("queue_ptr", torch.zeros(1, dtype=torch.long))

    @classmethod
    def from_config(cls, cfg, in_channels, is_decoder):
        c = cfg.MODEL.DECON.DENSECL
        hidden = c.DEC_NECK_HIDDEN_DIM if is_decoder and c.DEC_NECK_HIDDEN_DIM > 0 \
            else c.NECK_HIDDEN_DIM
        if not 0.0 <= c.LOSS_LAMBDA <= 1.0:
            raise ValueError(f"MODEL.DECON.DENSECL.LOSS_LAMBDA must be in [0, 1], "
                             f"got {c.LOSS_LAMBDA}")
        if c.QUEUE_LENGTH < 1:
            raise ValueError(f"MODEL.DECON.DENSECL.QUEUE_LENGTH must be >= 1, got {c.QUEUE_LENGTH}")
        return {
            "in_channels": in_channels,
            "hidden_dim": hidden,
            "out_dim": c.NECK_OUT_DIM,
            "queue_length": c.QUEUE_LENGTH,
            "temperature": c.TEMPERATURE,
            "loss_lambda": c.LOSS_LAMBDA,
            "proj_checkpoint": bool(is_decoder and c.DEC_PROJ_CHECKPOINT),
            "loss_chunk_rows": c.LOSS_CHUNK_ROWS,
        }

    def make_teacher(self):
        """Frozen twin (the neck) with this head's current weights."""
        twin = type(self)(**{**self._kwargs, "role": "teacher"})
        twin.load_state_dict(self.state_dict(), strict=False)  # drops the queue keys
        return twin.requires_grad_(False).to(self.queue_global.device)

    def forward(self, student_feats, teacher_feats, teacher, boxes, flips):
        """Level loss parts ``global`` and ``dense`` (weighted by 1 - lambda and lambda) and
        their unweighted values as logs (see ``SSL_HEAD_REGISTRY.__doc__``)."""
        assert self.role == "student", "call the student head; it runs its teacher twin"
        xq, xk = student_feats[0], teacher_feats[1]
        g_q, d_q = self.projector(xq)
        with torch.no_grad():
            g_k, d_k = teacher.projector(xk)
            with no_autocast(d_k):
                k = F.normalize(fp32(g_k), dim=1)
                k_grid = F.normalize(fp32(d_k).flatten(2), dim=1)
                k_pooled = F.normalize(fp32(d_k).mean(dim=(2, 3)), dim=1)
            k_dense = gather_positives(k_grid, dense_correspondence(xq.detach(), xk))
        with no_autocast(d_q):
            q = F.normalize(fp32(g_q), dim=1)
            q_grid = F.normalize(fp32(d_q).flatten(2), dim=1)
        b, d, hw = q_grid.shape
        # The queues are updated in place below, before backward: the loss keeps copies.
        queues = [getattr(self, n) for n in ("queue_global", "queue_dense")]
        if self.training:
            queues = [x.clone() for x in queues]
        chunk = self.loss_chunk_rows
        l_global = info_nce(q, k, queues[0], self.temperature, chunk)
        l_dense = info_nce(q_grid.transpose(1, 2).reshape(b * hw, d),
                           k_dense.transpose(1, 2).reshape(b * hw, d), queues[1],
                           self.temperature, chunk)
        if self.training:
            self.enqueue(k, k_pooled)
        lam = 0.0 if self.dense_warmup else self.loss_lambda
        losses = {"global": (1.0 - lam) * l_global, "dense": lam * l_dense}
        return losses, {"global": l_global.detach(), "dense": l_dense.detach()}

    @torch.no_grad()
    def enqueue(self, keys_global, keys_dense):
        """Append the keys of every process (rank order) to the two queues (one gather)."""
        d = keys_global.shape[1]
        keys = concat_all_gather(torch.cat([keys_global, keys_dense], dim=1))
        start = int(self.queue_ptr)
        enqueue_(self.queue_global, start, keys[:, :d])
        self.queue_ptr.fill_(enqueue_(self.queue_dense, start, keys[:, d:]))
