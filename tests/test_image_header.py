"""Tests for animegan_face.data.image_header: the declared size of every format, from its header."""

import cv2
import numpy as np
import pytest

from animegan_face.data import image_files, image_header
from tests import hostile_files

_SHAPE = (37, 53)  # odd sides: a swapped width and height shows


def _encoded(extension, params=()):
    rgb = np.random.default_rng(0).integers(0, 256, _SHAPE + (3,), np.uint8)
    image = rgb.astype(np.float32) / 255 if extension in (".pfm", ".hdr", ".pic") else rgb
    if extension in (".pgm", ".pbm"):
        image = rgb[..., 0]
    ok, encoded = cv2.imencode(extension, image, list(params))
    assert ok
    return encoded.tobytes()


@pytest.mark.parametrize("extension", sorted(image_files.IMAGE_EXTENSIONS))
def test_every_writable_format_declares_its_size(extension):
    if not cv2.haveImageWriter("x" + extension):
        pytest.skip(f"OpenCV reads but does not write {extension}")
    data = _encoded(extension)
    assert image_header.format_name(data) is not None
    assert image_header.declared_size(data) == (_SHAPE[1], _SHAPE[0])


@pytest.mark.parametrize("extension, params", [
    (".jpg", (cv2.IMWRITE_JPEG_PROGRESSIVE, 1)),  # SOF2
    (".webp", (cv2.IMWRITE_WEBP_QUALITY, 101)),  # lossless: VP8L
    (".webp", (cv2.IMWRITE_WEBP_QUALITY, 80)),  # lossy: VP8
    (".tif", (cv2.IMWRITE_TIFF_COMPRESSION, 1)),
])
def test_format_variants(extension, params):
    assert image_header.declared_size(_encoded(extension, params)) == (_SHAPE[1], _SHAPE[0])


def test_rgba_webp_uses_the_extended_header():
    ok, encoded = cv2.imencode(".webp", np.zeros(_SHAPE + (4,), np.uint8))
    assert ok and image_header.declared_size(encoded.tobytes()) == (_SHAPE[1], _SHAPE[0])


def test_bombs_declare_their_size_without_being_decoded():
    assert image_header.declared_size(hostile_files.png_header_only(100_000, 90_000)) == (100_000, 90_000)
    assert image_header.declared_size(hostile_files.jpeg_claiming(60_000, 50_000)) == (60_000, 50_000)


@pytest.mark.parametrize("data, message", [
    (b"\x89PNG\r\n\x1a\n\x00\x00", "PNG header is truncated"),
    (b"\xff\xd8\xff\xe0\x00\x04ab\xff\xd9", "JPEG header is truncated"),  # no frame header
    (hostile_files.png_header_only(0, 10), "PNG header declares 0 x 10 pixels"),
    (b"RIFF\0\0\0\0WEBPVP8 ", "WebP header is truncated"),
])
def test_broken_headers_are_named(data, message):
    with pytest.raises(image_header.HeaderError, match=message):
        image_header.declared_size(data)


def test_unknown_formats_are_left_to_opencv():
    assert image_header.format_name(b"plain text") is None
    assert image_header.declared_size(b"plain text") is None
