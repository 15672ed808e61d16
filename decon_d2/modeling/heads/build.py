"""``SSL_HEAD_REGISTRY`` and ``build_ssl_head``: interchangeable self-supervised loss heads.

A leaf module (no model imports), so heads and the meta-architecture can both import it.
"""
from detectron2.utils.registry import Registry

from decon_d2.head_specs import head_spec

__all__ = ["SSL_HEAD_REGISTRY", "build_ssl_head"]

SSL_HEAD_REGISTRY = Registry("SSL_HEAD")
SSL_HEAD_REGISTRY.__doc__ = """
Registry for self-supervised loss heads (``SlotConHead``, ``DenseCLHead``), selected by
``cfg.MODEL.DECON.HEAD.NAME``. Each head also registers a ``HeadSpec`` under the same name
(``decon_d2/head_specs.py``: its config node, own keys, variant names), from its folder's
``spec.py``; a head without one is not built. DeCon builds one instance on the encoder feature (res5) and one per
decoder level in use, and mixes their losses with ``MODEL.DECON.ENCODER_LOSS_WEIGHT``.

The registered object is called as ``obj(cfg, in_channels=C, is_decoder=bool)`` and must return
an ``nn.Module`` (the *student* head) that provides:

- ``make_teacher() -> nn.Module``: the teacher twin, a frozen module whose parameters have the
  same names as the student's twin parameters (they are EMA-updated by name). Student-only parts
  (predictors) and buffers owned by the student (centers, queues) are left out of it.
- ``forward(student_feats, teacher_feats, teacher, boxes, flips) -> (losses, logs)``:
  ``student_feats``/``teacher_feats`` are per-view lists of ``B x C x H x W`` maps from the
  student and teacher backbones, ``teacher`` the twin, ``boxes`` per-view ``B x 4`` overlap boxes
  and ``flips`` per-view ``B`` bools (docs/contracts.md). The head runs the teacher twin itself,
  under ``no_grad``. ``losses`` maps part names to tensors that sum to this level's loss (each
  already multiplied by its within-level weight); ``logs`` maps names to unweighted floats or
  tensors for EventStorage. Buffers (e.g. a center) are updated at the end, in training only.

Optional class attributes: ``student_views`` / ``teacher_views`` (default ``(0, 1)``), the view
indices whose features the head reads from each network (DenseCL: ``(0,)`` / ``(1,)``; the
meta-architecture runs only the forwards some head needs and passes ``None`` for the others);
``export_branch`` (default "teacher"), the network the converter exports (DenseCL: "student").

Every parameter/buffer name of a head must contain ``projector``, ``predictor``, ``prototypes``,
``center`` or ``queue`` (docs/contracts.md: the converter relies on it).
"""


def build_ssl_head(cfg, in_channels, is_decoder):
    """Build the student head named by ``cfg.MODEL.DECON.HEAD.NAME`` for a C-channel feature."""
    name = cfg.MODEL.DECON.HEAD.NAME
    head_spec(name)  # an unknown head is an error naming the registered ones
    return SSL_HEAD_REGISTRY.get(name)(cfg, in_channels=in_channels, is_decoder=is_decoder)
