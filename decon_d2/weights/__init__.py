"""One home for weights files: reading and writing every format the project knows, the
``decon_meta`` record they carry, as typed objects, and what each key of a file means.

Every other package asks here and never parses a file's keys itself, so that a new field or an
older file's spelling is handled once: ``record.py`` (the record: :class:`PretrainRecord`,
:class:`ConvertedRecord`), ``run_record.py`` (the record of a pre-training run), ``layout.py``
(telling torch layouts apart), ``keys.py`` (where the ResNet and the decoders live in a Detectron2
model), ``renames.py`` (torchvision's and the authors' names for them), ``classify.py`` (what one
key of a file is: :func:`classify`), ``known.py`` (conventions of files that record none),
``geometry.py`` (ResNet depth and FPN width, read off the tensors), ``files.py`` (one reader per
format, :func:`read_weights`), ``pkl_writer.py`` (the converter's temporary ``.pkl``). Layering:
this package imports only ``decon_d2.utils``, ``decon_d2.conventions``, ``decon_d2.variants``,
``decon_d2.config`` and third-party code.
"""
from .classify import Action, classify, drop_reason, pretrain_key
from .files import WeightsFile, WeightsReadError, read_pkl, read_torch, read_weights
from .keys import (BOTTOM_UP, C4_RES5, DECODER_PREFIXES, FPN_LEVELS, bottom_up_name, decoder_kind,
                   encoder_group, encoder_placement, encoder_prefix, encoder_relative,
                   has_c4_head, is_encoder_key)
from .known import MSRA_CONVENTIONS, TORCHVISION_CONVENTIONS, layout_conventions
from .layout import LAYOUTS, detect_layout, strip_module
from .pkl_writer import write_pkl_tmp
from .record import ConvertedRecord, PretrainRecord, catalogue_variant
from .geometry import ResNetDepthError, fpn_channels, resnet_depth, set_resnet_depth
from .renames import authors_fcn_to_d2, d2_to_torchvision, torchvision_to_d2
from .run_record import fcn_record, run_record

__all__ = ["WeightsFile", "WeightsReadError", "read_pkl", "read_torch", "read_weights",
           "MSRA_CONVENTIONS", "TORCHVISION_CONVENTIONS", "layout_conventions", "LAYOUTS",
           "detect_layout", "strip_module", "write_pkl_tmp", "ConvertedRecord", "PretrainRecord",
           "catalogue_variant", "fcn_record", "run_record", "ResNetDepthError", "resnet_depth",
           "set_resnet_depth", "fpn_channels", "Action", "classify", "drop_reason",
           "pretrain_key", "BOTTOM_UP", "C4_RES5", "DECODER_PREFIXES", "FPN_LEVELS",
           "bottom_up_name", "decoder_kind", "encoder_group", "encoder_placement",
           "encoder_prefix", "encoder_relative", "has_c4_head", "is_encoder_key",
           "authors_fcn_to_d2", "d2_to_torchvision", "torchvision_to_d2"]
