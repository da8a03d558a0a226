"""Reading, writing and listing image files with OpenCV; the pixel conversions, the square resize
rule and the picture grids around them.

Every image leaves this module as a uint8 ``H x W x 3`` **RGB** array, whatever the file held:
grayscale is replicated to three channels, alpha is composited over white, 16-bit and float
samples are scaled (not clipped) to 0..255, CMYK JPEGs are converted by OpenCV, and EXIF
orientation is applied. A file that cannot be turned into such an array raises
:class:`ImageReadError`, whose ``reason`` says why in words.
"""

import contextlib
import errno
import os
import pathlib
import secrets
import stat
import struct
import tempfile

import cv2
import numpy as np

from animegan_face.data import image_header

# Extensions of the formats this OpenCV build decodes (cv2.getBuildInformation(): JPEG, PNG, WebP,
# AVIF, TIFF, JPEG 2000, GIF, BMP, PxM/PAM/PFM, Sun raster, Radiance HDR; no OpenEXR, no JPEG XL).
# tests/test_image_files.py writes and reads back every one that OpenCV can also write.
IMAGE_EXTENSIONS = frozenset({
    ".jpg", ".jpeg", ".jpe",
    ".png",
    ".webp",
    ".avif",
    ".tif", ".tiff",
    ".jp2",
    ".gif",
    ".bmp", ".dib",
    ".ppm", ".pgm", ".pbm", ".pnm", ".pam", ".pfm",
    ".sr", ".ras",
    ".hdr", ".pic",
})

# Containers that may carry alpha; they are decoded with IMREAD_UNCHANGED so that the alpha survives.
_PNG_MAGIC = b"\x89PNG\r\n\x1a\n"
_TIFF_MAGICS = (b"II*\x00", b"MM\x00*", b"II+\x00", b"MM\x00+")  # classic and BigTIFF

_EXIF_ORIENTATION_TAG = 0x0112

# OpenCV refuses to decode more pixels than this (a guard against decompression bombs).
_TOO_LARGE = ("image too large: more than OpenCV's limit of 2^30 pixels (set the environment "
              "variable OPENCV_IO_MAX_IMAGE_PIXELS higher to read it)")

# The pixel budget, checked against the size the header declares before anything is decoded.
# Reading costs up to ~52 bytes a pixel (a 16-bit RGBA PNG: decoded samples, float copies and the
# alpha composite; read_image of tests.hostile_files.png_bomb(4000, 4000) grew the peak RSS by
# 52.3 bytes a pixel), so 50 megapixels stay under 3 GB; OpenCV's own limit (2^30) allows 21 times
# that. Commands raise it with --max_megapixels.
DEFAULT_MAX_PIXELS = 50_000_000
# The largest file read at all, per allowed pixel: 16 bytes is more than any format here stores
# uncompressed (float RGB PFM: 12); a larger file is refused before it is read into memory.
_MAX_FILE_BYTES_PER_PIXEL = 16

# The exit status of a command that did all it could but skipped some files (stylize.py,
# prepare.py); 0 means everything was done, 1 an error.
EXIT_SOME_SKIPPED = 3


class ImageReadError(ValueError):
    """An image file that cannot be read; ``path`` is the file, ``reason`` says why in words."""

    def __init__(self, path, reason):
        self.path = pathlib.Path(path)
        self.reason = reason
        super().__init__(f"{self.path}: {reason}")


def list_images(folder):
    """Image files directly inside ``folder`` (not recursive), sorted by name.

    A file counts as an image when its extension, in any case, is in IMAGE_EXTENSIONS; whether it
    really decodes is :func:`read_image`'s business. Symbolic links to files are followed.
    Entries with an image name that are no file (see :func:`scan_images`) are left out.

    Raises:
        FileNotFoundError: ``folder`` does not exist.
        NotADirectoryError: ``folder`` is a file.
    """
    return scan_images(folder)[0]


def scan_images(folder):
    """``(images, problems)``: :func:`list_images`' files, and ``[(path, reason)]`` of every entry
    whose name is an image's but that cannot be one: a folder, a dangling symbolic link, a link
    loop, a device or pipe. Both sorted by name; for commands to report what they leave out.

    Hidden temporary files of :func:`write_file_atomic` (``.<name>.<pid>.<random>.tmp``) do not
    end in an image extension and are neither.
    """
    folder = pathlib.Path(folder)
    if not folder.exists():
        raise FileNotFoundError(f"image folder not found: {folder}")
    if not folder.is_dir():
        raise NotADirectoryError(f"not a folder: {folder}")
    images, problems = [], []
    for path in sorted(folder.iterdir()):
        if path.suffix.lower() not in IMAGE_EXTENSIONS:
            continue
        reason = _not_a_file_reason(path)
        if reason is None:
            images.append(path)
        else:
            problems.append((path, reason))
    return images, problems


def _not_a_file_reason(path):
    try:
        status = path.stat()  # follows links
    except FileNotFoundError:
        return "dangling symbolic link (its target does not exist)"
    except OSError as error:
        if error.errno == errno.ELOOP:
            return "symbolic link loop"
        return f"cannot look at it ({error.strerror or error})"
    if stat.S_ISREG(status.st_mode):
        return None
    if stat.S_ISDIR(status.st_mode):
        return "a folder, not an image file"
    return "not a regular file (a device, pipe or socket)"


def printable(path):
    """``path`` as text that can always be printed or logged: bytes that are not UTF-8 (names made
    on another system) appear as ``\\xe9`` escapes instead of failing the print."""
    return os.fsencode(path).decode("utf-8", "backslashreplace")


@contextlib.contextmanager
def opencv_path(path):
    """A ``str`` for ``path`` that OpenCV's file functions (VideoCapture, VideoWriter) can take.

    OpenCV crashes the process (a segmentation fault) on a path that is not valid UTF-8, which
    Python passes as surrogate-escaped text. Such a path is reached through a symbolic link with
    an ASCII name in a temporary folder, alive for the ``with`` block: a link to the file itself,
    or, when only a folder above it has such a name, to its folder (for a file still to write).
    """
    path = pathlib.Path(path).absolute()
    if _is_utf8(str(path)):
        yield str(path)
        return
    with tempfile.TemporaryDirectory(prefix="opencv-path-") as folder:
        link = pathlib.Path(folder) / "link"
        if _is_utf8(path.name):
            os.symlink(path.parent, link)
            yield str(link / path.name)
        else:
            os.symlink(path, link)
            yield str(link)


def _is_utf8(text):
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def unique_stems(paths, stem=None):
    """``{path: output stem}``, no two the same: the file stem, or ``<stem>_<ext>[n]`` on a clash.

    One rule for every command that writes one file per input: a.jpg and a.png in one folder give
    ``a`` and ``a_png``, never one output twice. Names are compared case-insensitively (a.JPG and
    A.png collide on macOS and Windows). ``stem(path)`` replaces ``path.stem`` as the first choice.
    """
    taken, names = set(), {}
    for path in paths:
        first = stem(path) if stem else path.stem
        candidate, counter = first, 0
        while candidate.casefold() in taken:
            counter += 1
            candidate = f"{first}_{path.suffix[1:].lower()}" + (str(counter) if counter > 1 else "")
        taken.add(candidate.casefold())
        names[path] = candidate
    return names


def read_name_list(path):
    """File names listed in a text file, one per line; blank lines and `#` comments ignored."""
    lines = pathlib.Path(path).read_text(encoding="utf-8").splitlines()
    return tuple(line.split("#", 1)[0].strip() for line in lines if line.split("#", 1)[0].strip())


def read_image(path, max_pixels=DEFAULT_MAX_PIXELS):
    """Reads any image OpenCV decodes as a uint8 ``H x W x 3`` RGB array (values 0..255).

    Bytes are read with ``np.fromfile`` (works for non-ASCII paths) and decoded with
    ``cv2.imdecode``. The format is told by magic bytes, not by the extension:
    PNG, WebP and TIFF, which may carry alpha, are decoded with IMREAD_UNCHANGED (which ignores
    EXIF orientation, so the EXIF orientation tag is applied here); everything else with
    IMREAD_COLOR | IMREAD_ANYDEPTH, where OpenCV applies EXIF orientation and converts CMYK.

    Conversions: gray -> 3 equal channels; alpha a in [0, 1] -> ``c * a + 1 * (1 - a)`` (over
    white); 16-bit -> ``round(v / 257)``; float -> ``round(clip(v, 0, 1) * 255)``.

    ``max_pixels``: the pixel budget. The size the header declares is checked before decoding
    (``image_header.declared_size``), and files larger than 16 bytes per allowed pixel are not
    read at all, so a small crafted file cannot make the decoder allocate gigabytes.

    Raises:
        ImageReadError: missing, empty, unreadable, too large or undecodable file; ``reason`` says
            which.
    """
    path = pathlib.Path(path)
    data = _read_bytes(path, max_bytes=_MAX_FILE_BYTES_PER_PIXEL * max_pixels + (1 << 20))
    if data.size == 0:
        raise ImageReadError(path, "empty file")
    _check_pixel_budget(path, data, max_pixels)
    head = data[:16].tobytes()
    try:
        if _may_carry_alpha(head):
            image = _decode_unchanged_oriented(data)
        else:
            image = cv2.imdecode(data, cv2.IMREAD_COLOR | cv2.IMREAD_ANYDEPTH)
    except cv2.error as error:
        if "CV_IO_MAX_IMAGE_PIXELS" in error.err:
            raise ImageReadError(path, _TOO_LARGE) from error
        raise ImageReadError(path, f"OpenCV failed to decode it ({error.err})") from error
    if image is None or image.size == 0:
        raise ImageReadError(path, _undecodable_reason(head))
    return _to_rgb8(image, path)


def write_image(path, rgb, quality=95):
    """Writes a uint8 ``H x W x 3`` RGB array; the format comes from the extension of ``path``.

    The file appears atomically (temporary file in the same folder, then ``os.replace``), so a
    reader never sees half an image; missing parent folders are created.

    Args:
        path: destination; its extension picks the encoder (".jpg", ".png", ".webp", ...);
            ".pgm" and ".pbm" store the gray image (``COLOR_RGB2GRAY``).
        rgb: uint8 array, ``H x W x 3``, RGB order.
        quality: 0..100, used by JPEG, WebP and AVIF; ignored by lossless formats.
    """
    write_file_atomic(path, encode_image(path, rgb, quality))


def encode_image(path, rgb, quality=95):
    """The bytes `write_image` writes to ``path`` (its extension picks the format)."""
    path = pathlib.Path(path)
    rgb = np.asarray(rgb)
    if rgb.dtype != np.uint8 or rgb.ndim != 3 or rgb.shape[2] != 3:
        raise ValueError(f"expected a uint8 HxWx3 RGB array, got {rgb.dtype} {rgb.shape}")
    extension = path.suffix.lower()
    # Only the extension goes to OpenCV: a name that is not UTF-8 (surrogate-escaped bytes) makes
    # cv2 crash the process, and the path itself is opened by Python (write_file_atomic).
    if extension not in IMAGE_EXTENSIONS or not cv2.haveImageWriter("x" + extension):
        raise ValueError(f"OpenCV cannot write {extension or 'extension-less'} files: {path}")
    ok, encoded = cv2.imencode(
        extension, _encoder_input(rgb, extension), _quality_params(extension, quality))
    if not ok:
        raise ValueError(f"OpenCV failed to encode {path}")
    return encoded.tobytes()


def write_file_atomic(path, data, fsync=False):
    """Writes ``data`` (bytes) to ``path`` so that ``path`` holds either the old or the new content.

    The temporary file, ``.<name>.<pid>.<random>.tmp`` in the same folder, never ends in an image
    extension, so a crash leaves nothing that :func:`list_images` would pick up. ``fsync=True``
    also flushes the bytes to disk before the rename (for small files that mark work as done).
    """
    path = pathlib.Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = path.with_name(f".{path.name}.{os.getpid()}.{secrets.token_hex(4)}.tmp")
    try:
        with open(temporary, "xb") as file:
            file.write(data)
            if fsync:
                file.flush()
                os.fsync(file.fileno())
        os.replace(temporary, path)
    except BaseException:
        temporary.unlink(missing_ok=True)
        raise


def save_weights_atomic(model, path):
    """model.save_weights(path) through a temporary file and a rename: `path` is never half written."""
    path = pathlib.Path(path)
    partial = path.with_name(path.name + ".partial.weights.h5")
    model.save_weights(partial)
    os.replace(partial, path)


def from_uint8(rgb):
    """uint8 images (any shape) 0..255 -> float32 in [-1, 1], the networks' range."""
    return np.asarray(rgb).astype(np.float32) / 127.5 - 1.0


def to_uint8(images):
    """Images in [-1, 1] (any shape, any float dtype) -> uint8 0..255, rounded and clipped."""
    return np.clip(np.round((np.asarray(images, np.float32) + 1.0) * 127.5), 0, 255).astype(np.uint8)


def resize_square(rgb, size):
    """``rgb`` resized to ``size x size`` (a copy): INTER_AREA when shrinking (no aliasing),
    INTER_CUBIC when enlarging."""
    if rgb.shape[:2] == (size, size):
        return np.ascontiguousarray(rgb).copy()
    interpolation = cv2.INTER_AREA if max(rgb.shape[:2]) > size else cv2.INTER_CUBIC
    return cv2.resize(rgb, (size, size), interpolation=interpolation)


def center_crop_resize(rgb, size):
    """The largest centred square of ``rgb``, resized to ``size x size`` (`resize_square`): the
    resize rule of training data, exports' sample photos and evaluation alike.

    Returns:
        ``(image, (y0, x0, h, w))``: the uint8 ``size x size x 3`` image and the crop window in
        source pixels (``h == w == min(H, W)``), to map source coordinates into the image:
        ``y_out = (y - y0) * size / h``.
    """
    height, width = rgb.shape[:2]
    side = min(height, width)
    y0, x0 = (height - side) // 2, (width - side) // 2
    square = rgb[y0:y0 + side, x0:x0 + side]
    return resize_square(square, size), (y0, x0, side, side)


def image_grid(columns, gap=4):
    """One uint8 RGB grid: row k holds image k of every column, left to right, white gaps between.

    columns: a list of (K, H, W, 3) uint8 arrays (or lists of (H, W, 3) arrays), all alike in shape.
    """
    columns = [np.asarray(column, np.uint8) for column in columns]
    count, height, width, _ = columns[0].shape
    if any(column.shape != columns[0].shape for column in columns):
        raise ValueError(f"columns differ in shape: {[column.shape for column in columns]}")
    grid = np.full((count * height + (count - 1) * gap,
                    len(columns) * width + (len(columns) - 1) * gap, 3), 255, np.uint8)
    for k in range(count):
        top = k * (height + gap)
        for c, column in enumerate(columns):
            left = c * (width + gap)
            grid[top:top + height, left:left + width] = column[k]
    return grid


def side_by_side(photos, stylised, gap=4):
    """One uint8 RGB grid: row k is photo k, a white gap, stylised k. Inputs (K, H, W, 3) in [-1, 1]."""
    return image_grid([to_uint8(photos), to_uint8(stylised)], gap)


def check_writable_folder(folder):
    """Raises OSError naming ``folder`` when files could not be written into it; creates nothing.

    For commands to fail before hours of work rather than at the first write: a regular file in
    the way, a folder without write permission, or a read-only file system. The folder itself may
    be missing (the commands create it) as long as its nearest existing ancestor is writable.
    """
    folder = pathlib.Path(folder).absolute()
    existing = folder
    while not existing.exists():
        existing = existing.parent
    if not existing.is_dir():
        raise NotADirectoryError(f"cannot write into {folder}: {existing} is a file, not a folder")
    if not os.access(existing, os.W_OK | os.X_OK):
        raise PermissionError(f"cannot write into {folder}: {existing} is not writable")


def _check_pixel_budget(path, data, max_pixels):
    try:
        size = image_header.declared_size(data)
    except image_header.HeaderError as error:
        raise ImageReadError(path, str(error)) from None
    if size is not None and size[0] * size[1] > max_pixels:
        raise ImageReadError(
            path, f"image too large: its header declares {size[0]} x {size[1]} pixels, more than "
                  f"the limit of {max_pixels / 1e6:g} megapixels (raise it with --max_megapixels)")


def _read_bytes(path, max_bytes):
    try:
        size = os.stat(path).st_size
    except OSError:
        size = 0  # np.fromfile below names the problem
    if size > max_bytes:
        raise ImageReadError(
            path, f"image too large: a {size / 1e6:.0f} MB file, more than its pixel budget allows "
                  f"(raise it with --max_megapixels)")
    try:
        return np.fromfile(path, dtype=np.uint8)
    except FileNotFoundError:
        raise ImageReadError(path, "file not found") from None
    except PermissionError:
        raise ImageReadError(path, "permission denied") from None
    except IsADirectoryError:
        raise ImageReadError(path, "is a folder, not a file") from None
    except OSError as error:
        raise ImageReadError(path, error.strerror or str(error)) from None


def _may_carry_alpha(head):
    is_webp = head[:4] == b"RIFF" and head[8:12] == b"WEBP"
    return head.startswith(_PNG_MAGIC) or is_webp or head[:4] in _TIFF_MAGICS


def _undecodable_reason(head):
    # Name the format when the magic bytes are known: "a truncated JPEG" helps more than "garbage".
    formats = {b"\xff\xd8\xff": "JPEG", _PNG_MAGIC: "PNG", b"GIF8": "GIF", b"BM": "BMP"}
    for magic, name in formats.items():
        if head.startswith(magic):
            return f"{name} data OpenCV cannot decode (truncated or corrupt)"
    if _may_carry_alpha(head):
        return "PNG/WebP/TIFF data OpenCV cannot decode (truncated or corrupt)"
    return "not an image OpenCV can decode"


def _decode_unchanged_oriented(data):
    image, metadata_types, metadata = cv2.imdecodeWithMetadata(data, cv2.IMREAD_UNCHANGED)
    if image is None or image.size == 0:
        return None
    orientation = 1
    for kind, blob in zip(metadata_types, metadata):
        if kind == cv2.IMAGE_METADATA_EXIF:
            orientation = _exif_orientation(np.asarray(blob, dtype=np.uint8).tobytes())
    return _apply_orientation(image, orientation)


def _exif_orientation(exif):
    """The EXIF orientation tag (1..8) of a TIFF-structured EXIF block; 1 when absent or broken."""
    if exif.startswith(b"Exif\x00\x00"):
        exif = exif[6:]
    byte_order = {b"II*\x00": "<", b"MM\x00*": ">"}.get(exif[:4])
    if byte_order is None:
        return 1
    try:
        (ifd_offset,) = struct.unpack_from(byte_order + "I", exif, 4)
        (entry_count,) = struct.unpack_from(byte_order + "H", exif, ifd_offset)
        for index in range(entry_count):
            tag, _, _, value = struct.unpack_from(
                byte_order + "HHI4s", exif, ifd_offset + 2 + 12 * index)
            if tag == _EXIF_ORIENTATION_TAG:
                (orientation,) = struct.unpack_from(byte_order + "H", value)
                return orientation if 1 <= orientation <= 8 else 1
    except struct.error:
        pass
    return 1


def _apply_orientation(image, orientation):
    """Turns the stored pixels into the displayed ones for EXIF orientation 1..8."""
    transposed = np.swapaxes(image, 0, 1)
    displayed = {
        1: image,
        2: image[:, ::-1],           # mirrored left-right
        3: image[::-1, ::-1],        # rotated 180
        4: image[::-1],              # mirrored top-bottom
        5: transposed,               # mirrored along the main diagonal
        6: transposed[:, ::-1],      # stored rotated 90 counter-clockwise: turn clockwise
        7: transposed[::-1, ::-1],   # mirrored along the anti-diagonal
        8: transposed[::-1],         # stored rotated 90 clockwise: turn counter-clockwise
    }[orientation]
    return np.ascontiguousarray(displayed)


def _to_rgb8(image, path):
    """cv2 output (gray, gray+alpha, BGR or BGRA; uint8, uint16 or float) -> uint8 RGB."""
    if image.ndim == 2:
        image = image[:, :, np.newaxis]
    channels = image.shape[2]
    if channels not in (1, 2, 3, 4):
        raise ImageReadError(path, f"unsupported number of channels: {channels}")
    has_alpha = channels in (2, 4)
    color = image[:, :, :-1] if has_alpha else image
    color = np.repeat(color, 3, axis=2) if color.shape[2] == 1 else color[:, :, ::-1]
    if image.dtype == np.uint8 and not has_alpha:
        return np.ascontiguousarray(color)
    unit = _to_unit_float(color, path)
    if has_alpha:
        alpha = _to_unit_float(image[:, :, -1:], path)
        unit = unit * alpha + (1.0 - alpha)  # composite over white
    return np.clip(np.rint(unit * 255.0), 0, 255).astype(np.uint8)


def _to_unit_float(samples, path):
    """Samples -> float32 in [0, 1]: uint8 / 255, uint16 / 65535, float clipped to [0, 1]."""
    if samples.dtype == np.uint8:
        return samples.astype(np.float32) / 255.0
    if samples.dtype == np.uint16:
        return samples.astype(np.float32) / 65535.0
    if np.issubdtype(samples.dtype, np.floating):
        return np.clip(np.nan_to_num(samples.astype(np.float32)), 0.0, 1.0)
    raise ImageReadError(path, f"unsupported sample type {samples.dtype}")


def _encoder_input(rgb, extension):
    """What OpenCV's encoder for ``extension`` wants: BGR uint8, or gray, or float in [0, 1]."""
    if extension in (".pgm", ".pbm"):  # gray-only formats
        return cv2.cvtColor(rgb, cv2.COLOR_RGB2GRAY)
    bgr = cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR)
    if extension == ".pfm":  # float samples, 1.0 = white (the HDR encoder scales by itself)
        return bgr.astype(np.float32) / 255.0
    return bgr


def _quality_params(extension, quality):
    if not 0 <= quality <= 100:
        raise ValueError(f"quality must be in 0..100, got {quality}")
    quality_flags = {
        ".jpg": cv2.IMWRITE_JPEG_QUALITY, ".jpeg": cv2.IMWRITE_JPEG_QUALITY,
        ".jpe": cv2.IMWRITE_JPEG_QUALITY, ".webp": cv2.IMWRITE_WEBP_QUALITY,
        ".avif": cv2.IMWRITE_AVIF_QUALITY,
    }
    flag = quality_flags.get(extension)
    return [] if flag is None else [flag, int(quality)]
