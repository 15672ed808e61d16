"""One home for weights files: reading and writing every format the project knows, and the
``decon_meta`` record they carry, as typed objects.

Every other package asks here and never parses a file's keys itself, so that a new field or an
older file's spelling is handled once: ``record.py`` (the record: :class:`PretrainRecord`,
:class:`ConvertedRecord`), ``run_record.py`` (the record of a pre-training run), ``layout.py``
(telling torch layouts apart), ``known.py`` (conventions of files that record none),
``geometry.py`` (ResNet depth and FPN width, read off the tensors), ``files.py`` (one reader per
format, :func:`read_weights`), ``pkl_writer.py`` (the converter's temporary ``.pkl``). Layering: this package imports only ``decon_d2.utils``,
``decon_d2.conventions``, ``decon_d2.variants``, ``decon_d2.config`` and third-party code.
"""
from .files import WeightsFile, WeightsReadError, read_pkl, read_torch, read_weights
from .known import MSRA_CONVENTIONS, TORCHVISION_CONVENTIONS, layout_conventions
from .layout import LAYOUTS, detect_layout, strip_module
from .pkl_writer import write_pkl_tmp
from .record import ConvertedRecord, PretrainRecord, catalogue_variant
from .geometry import ResNetDepthError, fpn_channels, resnet_depth, set_resnet_depth
from .run_record import fcn_record, run_record

__all__ = ["WeightsFile", "WeightsReadError", "read_pkl", "read_torch", "read_weights",
           "MSRA_CONVENTIONS", "TORCHVISION_CONVENTIONS", "layout_conventions", "LAYOUTS",
           "detect_layout", "strip_module", "write_pkl_tmp", "ConvertedRecord", "PretrainRecord",
           "catalogue_variant", "fcn_record", "run_record", "ResNetDepthError", "resnet_depth",
           "set_resnet_depth", "fpn_channels"]
