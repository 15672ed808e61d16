"""Pre-training checkpoint -> Detectron2 Mask R-CNN R50-FPN ``.pkl``, with a verifying report.

``convert_to_d2(state_dict, *, branch, include_decoder)`` is the pure conversion (``core.py``);
``python -m decon_d2.convert`` / ``decon-convert`` is the CLI (``__main__.py``). Reading and
writing the files, and their ``decon_meta`` record, is ``decon_d2.weights``'s. Usage, the key
map and the failure modes: ``docs/convert.md``.
"""
from .core import CONVERTER_VERSION, convert_to_d2
from .formats import ConversionError, detect_layout
from .report import ConversionReport

__all__ = ["convert_to_d2", "ConversionReport", "ConversionError", "detect_layout",
           "CONVERTER_VERSION"]
