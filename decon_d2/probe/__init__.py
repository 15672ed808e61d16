"""Dense linear probe of frozen backbones (``python -m decon_d2.probe``, ``decon-probe``):
does pre-training make features that a linear classifier can segment with? See docs/probe.md."""
from .data import ProbeSet, load_images, load_probe_set
from .labels import IGNORE, class_info, semantic_map
from .linear import ProbeSettings, confusion_matrix, segmentation_scores, train_linear
from .run import probe_features
from .weights import LEVELS, ProbeBackbone, ProbeWeightsError, load_probe_backbone

__all__ = ["ProbeSet", "load_images", "load_probe_set", "IGNORE", "class_info", "semantic_map",
           "ProbeSettings", "confusion_matrix", "segmentation_scores", "train_linear",
           "probe_features", "LEVELS", "ProbeBackbone", "ProbeWeightsError",
           "load_probe_backbone"]
