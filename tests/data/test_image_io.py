"""Reading images as 8-bit RGB: colour modes, EXIF orientation, truncated and foreign files."""
import io
import logging

import numpy as np
import pytest
from PIL import Image, ImageFile

from decon_d2.data.image_io import read_rgb


@pytest.mark.parametrize("mode, value, expected", [
    ("L", 100, (100, 100, 100)),
    ("RGBA", (10, 20, 30, 0), (10, 20, 30)),  # alpha dropped, not composited
    ("LA", (50, 128), (50, 50, 50)),
    ("P", 3, None),
    ("1", 1, (255, 255, 255)),
])
def test_modes_become_three_channel_rgb(tmp_path, mode, value, expected):
    path = tmp_path / f"img_{mode}.png"
    Image.new(mode, (8, 6), value).save(path)
    image = read_rgb(str(path))
    assert image.mode == "RGB" and image.size == (8, 6)
    if expected is not None:
        assert tuple(np.asarray(image)[0, 0]) == expected


def test_cmyk_jpeg_becomes_rgb(tmp_path):
    path = tmp_path / "cmyk.jpg"
    Image.new("CMYK", (16, 16), (0, 255, 255, 0)).save(path, quality=100)  # pure red ink
    r, g, b = np.asarray(read_rgb(str(path))).reshape(-1, 3).mean(0)
    assert r > 200 and g < 50 and b < 50


def test_16_bit_grayscale_is_scaled_not_clipped(tmp_path):
    path = tmp_path / "deep.png"
    Image.fromarray(np.full((4, 4), 32768, dtype=np.uint16)).save(path)
    assert tuple(np.asarray(read_rgb(str(path)))[0, 0]) == (128, 128, 128)


def test_exif_orientation_is_applied(tmp_path):
    path = tmp_path / "rotated.jpg"
    exif = Image.Exif()
    exif[0x0112] = 6  # "rotate 90 CW to display"
    Image.new("RGB", (40, 20)).save(path, exif=exif)
    assert read_rgb(str(path)).size == (20, 40)


def _jpeg_bytes():
    rng = np.random.default_rng(0)
    buf = io.BytesIO()
    Image.fromarray(rng.integers(0, 256, (64, 64, 3), dtype=np.uint8)).save(buf, "JPEG")
    return buf.getvalue()


def test_truncated_jpeg_and_foreign_files_read_as_none_and_log_once(tmp_path, caplog):
    assert ImageFile.LOAD_TRUNCATED_IMAGES is False
    truncated, text, missing = tmp_path / "cut.jpg", tmp_path / "notes.jpg", tmp_path / "gone.jpg"
    truncated.write_bytes(_jpeg_bytes()[:1500])
    text.write_text("hello")
    with caplog.at_level(logging.WARNING, logger="decon_d2.data.image_io"):
        for _ in range(3):
            for path in (truncated, text, missing):
                assert read_rgb(str(path)) is None
    messages = [r.getMessage() for r in caplog.records]
    for path in (truncated, text, missing):
        assert sum(str(path) in m for m in messages) == 1, messages


def test_a_global_truncated_images_flag_is_reported(tmp_path, caplog, monkeypatch):
    import decon_d2.data.image_io as image_io
    monkeypatch.setattr(ImageFile, "LOAD_TRUNCATED_IMAGES", True)
    monkeypatch.setattr(image_io, "_warned_truncated_flag", False)
    path = tmp_path / "ok.png"
    Image.new("RGB", (4, 4)).save(path)
    with caplog.at_level(logging.WARNING, logger="decon_d2.data.image_io"):
        read_rgb(str(path))
    assert any("LOAD_TRUNCATED_IMAGES" in r.getMessage() for r in caplog.records)
