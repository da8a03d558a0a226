"""Hostile files, made at test time (no binary fixtures): what a careless or malicious folder holds.

`write_hostile_folder(folder)` writes files that every command must skip with a reason, and
returns ``{os.fsencode(name): reason prefix}``; the other functions make one kind each.
"""

import os
import struct
import zlib

import cv2
import numpy as np

# A name that is not UTF-8: Latin-1 "café", as an old camera or a Windows share writes it.
LATIN1_STEM = b"caf\xe9"


def png_chunk(kind, data):
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))


def png_bomb(width, height, bit_depth=16, color_type=6):
    """A valid PNG of zeros, ``width x height`` (16-bit RGBA by default: 8 bytes a pixel decoded),
    deflated row by row: 8000 x 8000 takes about 0.5 MB on disk and 0.5 GB to decode."""
    channels = {0: 1, 2: 3, 4: 2, 6: 4}[color_type]
    row = b"\0" * (1 + width * channels * bit_depth // 8)  # filter byte 0, then zero samples
    compressor = zlib.compressobj(9)
    idat = b"".join(compressor.compress(row) for _ in range(height)) + compressor.flush()
    header = struct.pack(">IIBBBBB", width, height, bit_depth, color_type, 0, 0, 0)
    return (b"\x89PNG\r\n\x1a\n" + png_chunk(b"IHDR", header) + png_chunk(b"IDAT", idat)
            + png_chunk(b"IEND", b""))


def png_header_only(width, height):
    """A PNG whose IHDR claims ``width x height`` 8-bit RGB pixels, with a few bytes of data."""
    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return (b"\x89PNG\r\n\x1a\n" + png_chunk(b"IHDR", header)
            + png_chunk(b"IDAT", zlib.compress(b"\0" * 64)) + png_chunk(b"IEND", b""))


def jpeg_claiming(width, height):
    """A small real JPEG whose frame header (SOF0) is patched to claim ``width x height``."""
    ok, encoded = cv2.imencode(".jpg", np.full((16, 16, 3), 128, np.uint8))
    assert ok
    data = bytearray(encoded.tobytes())
    sof = data.index(b"\xff\xc0")
    data[sof + 5:sof + 9] = struct.pack(">HH", height, width)
    return bytes(data)


def good_image(extension=".png", height=12, width=16, seed=0):
    """A small random image, encoded."""
    rgb = np.random.default_rng(seed).integers(0, 256, (height, width, 3), np.uint8)
    ok, encoded = cv2.imencode(extension, rgb)
    assert ok
    return encoded.tobytes()


def write_hostile_folder(folder):
    """Writes 20 hostile entries into ``folder``; returns ``{name bytes: reason prefix}``.

    Every entry is named like an image, and none can be stylised or prepared: each must be
    skipped with the reason given (its start), and must not stop the rest of the folder.
    """
    folder = os.fsencode(folder)
    os.makedirs(folder, exist_ok=True)
    jpeg, png = good_image(".jpg"), good_image(".png")
    files = {  # name: (bytes, reason)
        b"truncated.jpg": (jpeg[:len(jpeg) // 2], "JPEG data OpenCV cannot decode"),
        b"truncated.png": (png[:len(png) // 2], "PNG data OpenCV cannot decode"),
        b"empty.jpg": (b"", "empty file"),
        b"text.png": (b"not an image\n" * 20, "not an image OpenCV can decode"),
        b"bomb.png": (png_header_only(100_000, 100_000), "image too large: its header declares"),
        b"bomb16.png": (png_bomb(2000, 2000), "image too large: its header declares"),
        b"bomb.jpg": (jpeg_claiming(60_000, 60_000), "image too large: its header declares"),
        b"zero_width.png": (png_header_only(0, 10), "PNG header declares 0 x 10 pixels"),
        b"no_frame.jpg": (b"\xff\xd8\xff\xe0\x00\x04ab" + b"\xff\xd9", "JPEG header is truncated"),
        b"cut_header.png": (png[:20], "PNG header is truncated"),
        b"garbage.bmp": (b"BM" + b"\xff" * 10, "BMP header is truncated"),
        b"cut.webp": (b"RIFF\0\0\0\0WEBPVP8 ", "WebP header is truncated"),
        LATIN1_STEM + b"_broken.jpg": (jpeg[:40], "JPEG"),
        LATIN1_STEM + b"_empty.png": (b"", "empty file"),
    }
    for name, (data, _) in files.items():
        with open(os.path.join(folder, name), "wb") as file:
            file.write(data)
    reasons = {name: reason for name, (_, reason) in files.items()}
    os.symlink(b"loop_b.jpg", os.path.join(folder, b"loop_a.jpg"))
    os.symlink(b"loop_a.jpg", os.path.join(folder, b"loop_b.jpg"))
    reasons[b"loop_a.jpg"] = reasons[b"loop_b.jpg"] = "symbolic link loop"
    os.symlink(b"nowhere.jpg", os.path.join(folder, b"dangling.jpg"))
    reasons[b"dangling.jpg"] = "dangling symbolic link"
    os.mkdir(os.path.join(folder, b"folder.jpg"))
    reasons[b"folder.jpg"] = "a folder, not an image file"
    os.mkdir(os.path.join(folder, LATIN1_STEM + b"_folder.png"))
    reasons[LATIN1_STEM + b"_folder.png"] = "a folder, not an image file"
    os.mkfifo(os.path.join(folder, b"pipe.png"))  # reading it would block for ever
    reasons[b"pipe.png"] = "not a regular file"
    assert len(reasons) == 20
    return reasons


def write_good_images(folder, count, height=12, width=16):
    """``count`` small random images (a.jpg and a.png share a stem, two names are not UTF-8);
    returns their names as bytes."""
    folder = os.fsencode(folder)
    os.makedirs(folder, exist_ok=True)
    names = [b"a.jpg", b"a.png", LATIN1_STEM + b".png", LATIN1_STEM + b"_2.jpg"]
    names += [b"good_%03d.png" % index for index in range(count - len(names))]
    for index, name in enumerate(names):
        with open(os.path.join(folder, name), "wb") as file:
            file.write(good_image(os.path.splitext(name)[1].decode(), height, width, seed=index))
    return names


def write_batch_folder(folder, good=80):
    """The 100-file folder of issue 26: ``good`` small images among the 20 hostile entries.

    Returns ``(good names, {hostile name: reason prefix})``, names as bytes. The 2000 x 2000 PNG
    is refused only under a budget below 4 megapixels (the commands' --max_megapixels=1).
    """
    return write_good_images(folder, good), write_hostile_folder(folder)


def assert_each_listed_with_its_reason(text, reasons):
    """Every hostile name in ``text`` (a command's summary) on a line with its reason."""
    for name, reason in reasons.items():
        shown = name.decode("utf-8", "backslashreplace")
        assert any(shown in line and reason in line for line in text.splitlines()), (shown, reason)
