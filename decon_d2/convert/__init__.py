"""Pre-training checkpoint -> Detectron2 Mask R-CNN R50-FPN ``.pkl``, with a verifying report.

``convert_to_d2(state_dict, *, branch, include_decoder)`` is the pure conversion (``core.py``,
its checks ``checks.py``, the output's record ``output_record.py``); ``targets.py`` holds the
models a checkpoint is converted for; ``python -m decon_d2.convert`` / ``decon-convert`` is the
CLI (``__main__.py``). Reading and writing the files, their ``decon_meta`` record and what each
key means are ``decon_d2.weights``'s. Usage, the key map and the failure modes:
``docs/convert.md``.
"""
from .core import CONVERTER_VERSION, convert_to_d2
from .errors import ConversionError
from .report import ConversionReport
from ..weights import detect_layout

__all__ = ["convert_to_d2", "ConversionReport", "ConversionError", "detect_layout",
           "CONVERTER_VERSION"]
