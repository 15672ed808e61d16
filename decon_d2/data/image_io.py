"""Reading one image as 8-bit RGB, strictly: a corrupt or unreadable file gives ``None``.

Why PIL rather than ``detection_utils.read_image``: the crops are resized with PIL's antialiased
bicubic filter (as SlotCon/DeCon do), so the decoded ``PIL.Image`` is used as it is, without a
round trip through numpy. Conversions: EXIF orientation applied; grayscale, palette, CMYK, YCbCr
and alpha modes converted with ``convert("RGB")`` (alpha dropped, not composited, as
Detectron2 does); 16-bit grayscale scaled to 8 bits instead of being clipped.

Strictness: ``PIL.ImageFile.LOAD_TRUNCATED_IMAGES`` must stay False (the default) so that a
truncated file raises instead of being padded with grey; if some other code sets it, a warning
says so once. Each failing path is logged once per process.
"""
import logging
from typing import Optional, Set

import numpy as np
from PIL import Image, ImageFile, ImageOps

logger = logging.getLogger(__name__)

# What PIL raises for unreadable input: OSError (missing, truncated, "cannot identify" =
# UnidentifiedImageError), SyntaxError/ValueError/EOFError (broken headers in some plugins),
# DecompressionBombError (absurd sizes).
DECODE_ERRORS = (OSError, SyntaxError, ValueError, EOFError, Image.DecompressionBombError)

_warned_paths: Set[str] = set()
_warned_truncated_flag = False


def _warn_once(path: str, error: BaseException) -> None:
    if path not in _warned_paths:
        _warned_paths.add(path)
        logger.warning("skipping unreadable image %s: %s: %s", path, type(error).__name__, error)


def _check_truncated_flag() -> None:
    global _warned_truncated_flag
    if ImageFile.LOAD_TRUNCATED_IMAGES and not _warned_truncated_flag:
        _warned_truncated_flag = True
        logger.warning(
            "PIL.ImageFile.LOAD_TRUNCATED_IMAGES is True (set by some other code): truncated "
            "images will be decoded with grey padding instead of being skipped and counted"
        )


def _to_rgb(image: Image.Image) -> Image.Image:
    if image.mode.startswith("I;16"):  # 16-bit grayscale: keep the high byte
        image = Image.fromarray((np.asarray(image) >> 8).astype(np.uint8))
    return image if image.mode == "RGB" else image.convert("RGB")


def read_rgb(path: str) -> Optional[Image.Image]:
    """The image at ``path`` as a loaded RGB ``PIL.Image``, or ``None`` if it cannot be decoded."""
    _check_truncated_flag()
    try:
        with Image.open(path) as image:
            image.load()  # decode now, inside the try: truncation surfaces here
            try:
                oriented = ImageOps.exif_transpose(image)
            except DECODE_ERRORS:  # a broken EXIF block does not spoil good pixels
                oriented = image
            return _to_rgb(oriented if oriented is not image else image.copy())
    except DECODE_ERRORS as e:
        _warn_once(str(path), e)
        return None
