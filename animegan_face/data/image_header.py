"""The pixel size an image file declares in its header, read without decoding the pixels.

For a pixel budget checked before decoding: OpenCV has no header-only reader, and its own limit
(2^30 pixels) lets a 500 KB crafted PNG make it allocate gigabytes. Every format that
``image_files.IMAGE_EXTENSIONS`` lists is parsed here from its magic bytes, not its extension.
"""

import re
import struct

# JPEG start-of-frame markers (baseline, progressive, lossless, arithmetic); not DHT (C4),
# JPG (C8) or DAC (CC), which share the range.
_JPEG_SOF = frozenset(range(0xC0, 0xD0)) - {0xC4, 0xC8, 0xCC}
_JPEG_STANDALONE = frozenset(range(0xD0, 0xDA)) | {0x01}
_TIFF_SHORT, _TIFF_LONG, _TIFF_LONG8 = 3, 4, 16
_AVIF_BRANDS = (b"avif", b"avis", b"mif1", b"msf1", b"heic", b"heix")


class HeaderError(ValueError):
    """A known format whose header is too short or inconsistent to tell the image size."""


def format_name(data):
    """The format the magic bytes of ``data`` (bytes-like) announce, or None when unknown."""
    head = bytes(data[:16])
    if head.startswith(b"\x89PNG\r\n\x1a\n"):
        return "PNG"
    if head.startswith(b"\xff\xd8\xff"):
        return "JPEG"
    if head[:6] in (b"GIF87a", b"GIF89a"):
        return "GIF"
    if head.startswith(b"BM"):
        return "BMP"
    if head[:4] == b"RIFF" and head[8:12] == b"WEBP":
        return "WebP"
    if head[:4] in (b"II*\x00", b"MM\x00*", b"II+\x00", b"MM\x00+"):
        return "TIFF"
    if re.match(rb"P[1-7fF]\s", head):
        return "PNM"
    if head.startswith(b"\x59\xa6\x6a\x95"):
        return "Sun raster"
    if head.startswith((b"#?RADIANCE", b"#?RGBE")):
        return "Radiance HDR"
    if head.startswith(b"\x00\x00\x00\x0cjP  \r\n\x87\n"):
        return "JPEG 2000"
    if head.startswith(b"\xff\x4f\xff\x51"):
        return "JPEG 2000 codestream"
    if head[4:8] == b"ftyp" and head[8:12] in _AVIF_BRANDS:
        return "AVIF"
    return None


def declared_size(data):
    """``(width, height)`` that the header of ``data`` (bytes-like, the whole file) declares.

    Returns None for a format not known here (OpenCV then decides, under its own limit).

    Raises:
        HeaderError: a known format whose header is truncated or does not make sense.
    """
    name = format_name(data)
    if name is None:
        return None
    view = memoryview(data).cast("B") if not isinstance(data, (bytes, bytearray)) else memoryview(data)
    try:
        width, height = _PARSERS[name](view)
    except (struct.error, IndexError, KeyError, ValueError) as error:
        raise HeaderError(f"{name} header is truncated or corrupt: cannot tell its size") from error
    if width <= 0 or height <= 0:
        raise HeaderError(f"{name} header declares {width} x {height} pixels")
    return int(width), int(height)


def _png(view):
    if bytes(view[12:16]) != b"IHDR":
        raise ValueError("no IHDR chunk first")
    return struct.unpack_from(">II", view, 16)


def _jpeg(view):
    position = 2
    while True:
        if view[position] != 0xFF:
            raise ValueError("not at a marker")
        while view[position] == 0xFF:  # fill bytes
            position += 1
        marker = view[position]
        position += 1
        if marker in _JPEG_STANDALONE:
            continue
        if marker == 0xDA or marker == 0xD9:
            raise ValueError("image data before any frame header")
        (length,) = struct.unpack_from(">H", view, position)
        if marker in _JPEG_SOF:
            height, width = struct.unpack_from(">HH", view, position + 3)
            return width, height
        position += length


def _gif(view):
    return struct.unpack_from("<HH", view, 6)


def _bmp(view):
    (header_size,) = struct.unpack_from("<I", view, 14)
    if header_size == 12:  # OS/2 BITMAPCOREHEADER
        return struct.unpack_from("<HH", view, 18)
    width, height = struct.unpack_from("<ii", view, 18)
    return width, abs(height)  # a negative height is a top-down bitmap


def _webp(view):
    chunk = bytes(view[12:16])
    if chunk == b"VP8 ":
        if bytes(view[23:26]) != b"\x9d\x01\x2a":
            raise ValueError("no VP8 start code")
        width, height = struct.unpack_from("<HH", view, 26)
        return width & 0x3FFF, height & 0x3FFF
    if chunk == b"VP8L":
        if view[20] != 0x2F:
            raise ValueError("no VP8L signature")
        (bits,) = struct.unpack_from("<I", view, 21)
        return (bits & 0x3FFF) + 1, ((bits >> 14) & 0x3FFF) + 1
    if chunk == b"VP8X":
        width = int.from_bytes(view[24:27], "little") + 1
        height = int.from_bytes(view[27:30], "little") + 1
        return width, height
    raise ValueError(f"unknown WebP chunk {chunk!r}")


def _tiff(view):
    order = "<" if bytes(view[:2]) == b"II" else ">"
    (version,) = struct.unpack_from(order + "H", view, 2)
    big = version == 43
    if big:
        (offset,) = struct.unpack_from(order + "Q", view, 8)
        (count,) = struct.unpack_from(order + "Q", view, offset)
        entries, entry_size = offset + 8, 20
    else:
        (offset,) = struct.unpack_from(order + "I", view, 4)
        (count,) = struct.unpack_from(order + "H", view, offset)
        entries, entry_size = offset + 2, 12
    found = {}
    for index in range(min(count, 4096)):
        start = entries + index * entry_size
        tag, kind = struct.unpack_from(order + "HH", view, start)
        if tag in (256, 257):
            value_at = start + (12 if big else 8)
            fmt = {_TIFF_SHORT: "H", _TIFF_LONG: "I", _TIFF_LONG8: "Q"}.get(kind)
            if fmt is None:
                raise ValueError(f"TIFF size tag of type {kind}")
            (found[tag],) = struct.unpack_from(order + fmt, view, value_at)
    return found[256], found[257]  # KeyError -> not found


def _pnm(view):
    head = bytes(view[:4096])
    if head[1:2] == b"7":  # PAM: WIDTH / HEIGHT lines before ENDHDR
        width = re.search(rb"\nWIDTH\s+(\d+)", head)
        height = re.search(rb"\nHEIGHT\s+(\d+)", head)
        if not width or not height:
            raise ValueError("no WIDTH/HEIGHT")
        return int(width.group(1)), int(height.group(1))
    without_comments = re.sub(rb"#[^\n]*", b" ", head[2:])
    numbers = re.match(rb"\s*(\d+)\s+(\d+)", without_comments)
    if not numbers:
        raise ValueError("no width and height")
    return int(numbers.group(1)), int(numbers.group(2))


def _sun_raster(view):
    return struct.unpack_from(">II", view, 4)


def _radiance(view):
    head = bytes(view[:65536])
    end = head.find(b"\n\n")
    if end < 0:
        raise ValueError("no end of header")
    line = head[end + 2:].split(b"\n", 1)[0].split()
    if len(line) != 4:
        raise ValueError("no resolution line")
    first, second = int(line[1]), int(line[3])
    return (second, first) if line[0].endswith(b"Y") else (first, second)


def _jpeg2000(view):
    head = bytes(view[:65536])
    at = head.find(b"ihdr")
    if at < 0:
        raise ValueError("no ihdr box")
    height, width = struct.unpack_from(">II", head, at + 4)
    return width, height


def _jpeg2000_codestream(view):
    width, height, x_offset, y_offset = struct.unpack_from(">IIII", view, 8)
    return width - x_offset, height - y_offset


def _avif(view):
    data = bytes(view)
    sizes = []
    at = data.find(b"ispe")
    while at >= 0:  # every image item (main, alpha, thumbnail): the largest one counts
        sizes.append(struct.unpack_from(">II", data, at + 8))
        at = data.find(b"ispe", at + 4)
    if not sizes:
        raise ValueError("no ispe property")
    return max(sizes, key=lambda size: size[0] * size[1])


_PARSERS = {
    "PNG": _png, "JPEG": _jpeg, "GIF": _gif, "BMP": _bmp, "WebP": _webp, "TIFF": _tiff,
    "PNM": _pnm, "Sun raster": _sun_raster, "Radiance HDR": _radiance, "JPEG 2000": _jpeg2000,
    "JPEG 2000 codestream": _jpeg2000_codestream, "AVIF": _avif,
}
