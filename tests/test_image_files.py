"""Tests for animegan_face.data.image_files: every kind of file read_image meets, on tiny images."""

import io
import os
import pathlib
import struct
import subprocess
import sys
import zlib

import cv2
import numpy as np
import pytest

from animegan_face.data import image_files
from animegan_face.data.image_files import ImageReadError
from tests import hostile_files

REPO = pathlib.Path(__file__).resolve().parent.parent

# Lossless formats must round-trip exactly; the others only keep the shape.
_LOSSLESS = {".png", ".bmp", ".dib", ".tif", ".tiff", ".ppm", ".pnm", ".pam", ".sr", ".ras", ".pfm"}


def _smooth_rgb(height=24, width=32, seed=0):
    noise = np.random.default_rng(seed).integers(0, 256, (height, width, 3), np.uint8)
    return cv2.GaussianBlur(noise, (0, 0), 2)


def _write_encoded(path, extension, image, params=()):
    ok, encoded = cv2.imencode(extension, image, list(params))
    assert ok
    path.write_bytes(encoded.tobytes())
    return path


def _png(samples, color_type, bit_depth):
    """A minimal PNG encoder, for the layouts cv2.imencode cannot write (gray + alpha)."""
    height, width = samples.shape[:2]
    sample_type = ">u2" if bit_depth == 16 else "u1"
    rows = b"".join(b"\x00" + samples[y].astype(sample_type).tobytes() for y in range(height))

    def chunk(kind, data):
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    header = struct.pack(">IIBBBBB", width, height, bit_depth, color_type, 0, 0, 0)
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(rows))
            + chunk(b"IEND", b""))


def _exif_with_orientation(orientation):
    """A TIFF-structured EXIF block holding only the orientation tag."""
    entry = struct.pack("<HHIHH", 0x0112, 3, 1, orientation, 0)
    return b"II*\x00" + struct.pack("<IH", 8, 1) + entry + struct.pack("<I", 0)


def test_reads_color_as_rgb(tmp_path):
    bgr = np.zeros((4, 5, 3), np.uint8)
    bgr[..., 2] = 255  # red in OpenCV's BGR order
    for extension in (".png", ".bmp"):
        rgb = image_files.read_image(_write_encoded(tmp_path / f"red{extension}", extension, bgr))
        assert rgb.dtype == np.uint8 and rgb.shape == (4, 5, 3)
        np.testing.assert_array_equal(rgb[0, 0], [255, 0, 0])


def test_grayscale_becomes_three_equal_channels(tmp_path):
    gray = np.arange(20, dtype=np.uint8).reshape(4, 5) * 10
    for extension in (".png", ".jpg"):
        rgb = image_files.read_image(_write_encoded(tmp_path / f"g{extension}", extension, gray))
        assert rgb.shape == (4, 5, 3)
        np.testing.assert_array_equal(rgb[..., 0], rgb[..., 1])
        np.testing.assert_array_equal(rgb[..., 0], rgb[..., 2])
    np.testing.assert_array_equal(image_files.read_image(tmp_path / "g.png")[..., 0], gray)


@pytest.mark.parametrize("extension", [".png", ".tiff"])
def test_rgba_is_composited_over_white(tmp_path, extension):
    bgra = np.zeros((1, 3, 4), np.uint8)
    bgra[..., 2] = 200  # red 200
    bgra[0, :, 3] = [0, 128, 255]  # transparent, half, opaque
    # A misleading extension: the decoder is chosen by the magic bytes.
    rgb = image_files.read_image(_write_encoded(tmp_path / "a.jpg", extension, bgra))
    half = round(200 * 128 / 255 + 255 * 127 / 255), round(255 * 127 / 255)
    np.testing.assert_array_equal(rgb[0], [[255, 255, 255], [half[0], half[1], half[1]], [200, 0, 0]])


def test_rgba_webp_is_composited_over_white(tmp_path):
    bgra = np.zeros((8, 8, 4), np.uint8)
    bgra[..., 3] = 0
    path = _write_encoded(tmp_path / "a.webp", ".webp", bgra, [cv2.IMWRITE_WEBP_QUALITY, 101])
    np.testing.assert_array_equal(image_files.read_image(path), np.full((8, 8, 3), 255))


def test_gray_with_alpha_is_composited_over_white(tmp_path):
    gray_alpha = np.array([[[100, 0], [100, 255]]], np.uint8)
    path = tmp_path / "ga.png"
    path.write_bytes(_png(gray_alpha, color_type=4, bit_depth=8))
    np.testing.assert_array_equal(image_files.read_image(path)[0], [[255] * 3, [100] * 3])


def test_16_bit_is_scaled_not_clipped(tmp_path):
    values = np.array([[0, 1000, 257 * 100, 65535]], np.uint16)
    bgr16 = np.repeat(values[..., np.newaxis], 3, axis=2)
    rgb = image_files.read_image(_write_encoded(tmp_path / "deep.png", ".png", bgr16))
    assert rgb.dtype == np.uint8
    np.testing.assert_array_equal(rgb[0, :, 0], [0, 4, 100, 255])  # round(v / 257)


def test_16_bit_gray_with_alpha(tmp_path):
    samples = np.array([[[65535, 0], [257 * 50, 65535]]], np.uint16)
    path = tmp_path / "ga16.png"
    path.write_bytes(_png(samples, color_type=4, bit_depth=16))
    np.testing.assert_array_equal(image_files.read_image(path)[0], [[255] * 3, [50] * 3])


def test_cmyk_jpeg_is_converted_to_rgb(tmp_path):
    pil_image = pytest.importorskip("PIL.Image")  # only to write a CMYK JPEG; cv2 cannot
    buffer = io.BytesIO()
    pil_image.new("CMYK", (8, 6), (0, 255, 255, 0)).save(buffer, "JPEG", quality=95)  # red
    path = tmp_path / "cmyk.jpg"
    path.write_bytes(buffer.getvalue())
    rgb = image_files.read_image(path)
    assert rgb.shape == (6, 8, 3)
    np.testing.assert_allclose(rgb[3, 4], [255, 0, 0], atol=6)


@pytest.mark.parametrize("extension", [".jpg", ".png", ".webp"])
def test_exif_orientation_is_applied(tmp_path, extension):
    # 2 x 3 gray blocks of 8 x 8 pixels: no two alike, and JPEG keeps flat blocks intact.
    levels = np.array([[0, 50, 100], [150, 200, 250]], np.uint8)
    stored = np.repeat(np.kron(levels, np.ones((8, 8), np.uint8))[..., np.newaxis], 3, axis=2)
    expected = {
        1: stored, 2: stored[:, ::-1], 3: stored[::-1, ::-1], 4: stored[::-1],
        5: stored.swapaxes(0, 1), 6: np.rot90(stored, -1), 7: np.rot90(stored, -1)[::-1],
        8: np.rot90(stored, 1),
    }
    params = [cv2.IMWRITE_WEBP_QUALITY, 101] if extension == ".webp" else []
    for orientation in range(1, 9):
        ok, encoded = cv2.imencodeWithMetadata(
            extension, stored, [cv2.IMAGE_METADATA_EXIF],
            [np.frombuffer(_exif_with_orientation(orientation), np.uint8)], params)
        assert ok
        path = tmp_path / f"o{orientation}{extension}"
        path.write_bytes(encoded.tobytes())
        rgb = image_files.read_image(path)
        want = expected[orientation][..., ::-1]
        # OpenCV's own IMREAD_COLOR orientation handling must agree with ours (PNG/WebP path).
        by_opencv = cv2.imdecode(encoded, cv2.IMREAD_COLOR)[..., ::-1]
        assert rgb.shape == want.shape, orientation
        if extension == ".jpg":
            np.testing.assert_allclose(rgb, want, atol=8, err_msg=str(orientation))
        else:
            np.testing.assert_array_equal(rgb, want, err_msg=str(orientation))
            np.testing.assert_array_equal(rgb, by_opencv, err_msg=str(orientation))


@pytest.mark.parametrize("extension", sorted(image_files.IMAGE_EXTENSIONS))
def test_every_writable_extension_round_trips(tmp_path, extension):
    if not cv2.haveImageWriter("x" + extension):
        pytest.skip(f"OpenCV reads but does not write {extension}")
    rgb = _smooth_rgb(32, 40)  # JPEG 2000's encoder needs 32 pixels per side
    path = tmp_path / ("image" + extension.upper())  # extensions are case-insensitive
    image_files.write_image(path, rgb)
    assert image_files.list_images(tmp_path) == [path]
    back = image_files.read_image(path)
    assert back.shape == rgb.shape and back.dtype == np.uint8
    if extension in _LOSSLESS:
        np.testing.assert_array_equal(back, rgb)


def test_unicode_path_round_trip(tmp_path):
    path = tmp_path / "顔 写真" / "アニメ.jpg"
    rgb = _smooth_rgb()
    image_files.write_image(path, rgb, quality=100)
    np.testing.assert_allclose(image_files.read_image(path), rgb, atol=8)


def test_empty_file(tmp_path):
    path = tmp_path / "empty.jpg"
    path.write_bytes(b"")
    with pytest.raises(ImageReadError, match="empty file") as raised:
        image_files.read_image(path)
    assert raised.value.path == path and raised.value.reason == "empty file"
    assert str(raised.value) == f"{path}: empty file"
    assert isinstance(raised.value, ValueError)


def test_garbage_bytes_with_an_image_name(tmp_path):
    path = tmp_path / "fake.jpg"
    path.write_bytes(b"this is a text file, not a JPEG\n" * 10)
    with pytest.raises(ImageReadError) as raised:
        image_files.read_image(path)
    assert raised.value.reason == "not an image OpenCV can decode"


@pytest.mark.parametrize("extension", [".jpg", ".png"])
def test_truncated_file(tmp_path, extension):
    ok, encoded = cv2.imencode(extension, _smooth_rgb(64, 64))
    assert ok
    path = tmp_path / f"cut{extension}"
    path.write_bytes(encoded.tobytes()[:len(encoded) // 2])
    with pytest.raises(ImageReadError, match="truncated or corrupt"):
        image_files.read_image(path)


def test_unreadable_file(tmp_path):
    path = _write_encoded(tmp_path / "secret.png", ".png", _smooth_rgb())
    path.chmod(0)
    try:
        if os.access(path, os.R_OK):
            pytest.skip("running as root: permissions do not stop reading")
        with pytest.raises(ImageReadError, match="permission denied"):
            image_files.read_image(path)
    finally:
        path.chmod(0o644)


def test_permission_error_is_reported_even_as_root(tmp_path, monkeypatch):
    # Root reads chmod 000 files, so simulate what np.fromfile raises for everyone else.
    def refuse(*args, **kwargs):
        raise PermissionError(13, "Permission denied")

    monkeypatch.setattr(image_files.np, "fromfile", refuse)
    with pytest.raises(ImageReadError, match="permission denied"):
        image_files.read_image(tmp_path / "any.png")


def test_missing_file_and_folder(tmp_path):
    with pytest.raises(ImageReadError, match="file not found"):
        image_files.read_image(tmp_path / "nothing.png")
    (tmp_path / "folder.jpg").mkdir()
    with pytest.raises(ImageReadError, match="is a folder"):
        image_files.read_image(tmp_path / "folder.jpg")


def test_list_images_sorted_flat_and_case_insensitive(tmp_path):
    for name in ("b.PNG", "a.jpg", "c.Jpeg", "notes.txt", "no_extension", ".hidden.tmp"):
        (tmp_path / name).write_bytes(b"x")
    (tmp_path / "sub").mkdir()
    (tmp_path / "sub" / "d.jpg").write_bytes(b"x")
    (tmp_path / "dir.png").mkdir()
    names = [path.name for path in image_files.list_images(tmp_path)]
    assert names == ["a.jpg", "b.PNG", "c.Jpeg"]


def test_list_images_missing_folder_names_it(tmp_path):
    with pytest.raises(FileNotFoundError, match="nowhere"):
        image_files.list_images(tmp_path / "nowhere")


def test_write_image_is_atomic_and_replaces(tmp_path):
    path = tmp_path / "new" / "deeper" / "out.png"
    first, second = _smooth_rgb(seed=1), _smooth_rgb(seed=2)
    image_files.write_image(path, first)
    image_files.write_image(path, second)
    np.testing.assert_array_equal(image_files.read_image(path), second)
    assert sorted(p.name for p in path.parent.iterdir()) == ["out.png"]  # no temporary left


def test_write_image_jpeg_quality(tmp_path):
    rgb = _smooth_rgb(64, 64)
    image_files.write_image(tmp_path / "low.jpg", rgb, quality=10)
    image_files.write_image(tmp_path / "high.jpg", rgb, quality=95)
    assert (tmp_path / "low.jpg").stat().st_size < (tmp_path / "high.jpg").stat().st_size


def test_write_image_rejects_bad_input(tmp_path):
    with pytest.raises(ValueError, match="HxWx3"):
        image_files.write_image(tmp_path / "a.png", np.zeros((4, 4), np.uint8))
    with pytest.raises(ValueError, match="HxWx3"):
        image_files.write_image(tmp_path / "a.png", np.zeros((4, 4, 3), np.float32))
    with pytest.raises(ValueError, match="cannot write"):
        image_files.write_image(tmp_path / "a.xyz", np.zeros((4, 4, 3), np.uint8))
    assert list(tmp_path.iterdir()) == []


def test_check_writable_folder_creates_nothing_and_names_the_obstacle(tmp_path):
    image_files.check_writable_folder(tmp_path / "new" / "deeper")  # missing is fine: creatable
    assert list(tmp_path.iterdir()) == []
    (tmp_path / "file.txt").write_text("x")
    with pytest.raises(NotADirectoryError, match=f"{tmp_path / 'file.txt'} is a file"):
        image_files.check_writable_folder(tmp_path / "file.txt" / "out")
    locked = tmp_path / "locked"
    locked.mkdir(mode=0o555)
    if not os.access(locked, os.W_OK):  # root writes anywhere
        with pytest.raises(PermissionError, match="is not writable"):
            image_files.check_writable_folder(locked / "out")



def test_uint8_and_the_networks_range_round_trip_every_value():
    values = np.arange(256, dtype=np.uint8).reshape(1, 16, 16)
    unit = image_files.from_uint8(values)
    assert unit.dtype == np.float32 and unit.min() == -1.0 and unit.max() == 1.0
    np.testing.assert_array_equal(image_files.to_uint8(unit), values)
    np.testing.assert_array_equal(image_files.to_uint8(np.array([-3.0, 3.0, 0.0])), [0, 255, 128])


def test_resize_square_shrinks_by_area_enlarges_by_cubic_and_copies_at_size():
    rgb = np.random.default_rng(0).integers(0, 256, (24, 36, 3), dtype=np.uint8)
    np.testing.assert_array_equal(image_files.resize_square(rgb, 12),
                                  cv2.resize(rgb, (12, 12), interpolation=cv2.INTER_AREA))
    np.testing.assert_array_equal(image_files.resize_square(rgb[:20, :20], 40),
                                  cv2.resize(rgb[:20, :20], (40, 40), interpolation=cv2.INTER_CUBIC))
    square = rgb[:24, :24]
    same = image_files.resize_square(square, 24)
    np.testing.assert_array_equal(same, square)
    assert not np.shares_memory(same, square)


def test_center_crop_resize_windows_and_interpolation():
    wide = _smooth_rgb(30, 50, seed=0)
    image, window = image_files.center_crop_resize(wide, 15)
    assert window == (0, 10, 30, 30)
    np.testing.assert_array_equal(
        image, cv2.resize(wide[:, 10:40], (15, 15), interpolation=cv2.INTER_AREA))
    tall = _smooth_rgb(51, 20, seed=1)
    image, window = image_files.center_crop_resize(tall, 40)
    assert window == (15, 0, 20, 20)
    np.testing.assert_array_equal(
        image, cv2.resize(tall[15:35], (40, 40), interpolation=cv2.INTER_CUBIC))
    square = _smooth_rgb(16, 16, seed=2)
    image, window = image_files.center_crop_resize(square, 16)
    assert window == (0, 0, 16, 16) and image is not square
    np.testing.assert_array_equal(image, square)


def test_image_grid_places_each_column_and_row():
    red = np.zeros((2, 3, 5, 3), np.uint8)
    red[..., 0] = 200
    blue = np.zeros((2, 3, 5, 3), np.uint8)
    blue[..., 2] = 100
    grid = image_files.image_grid([red, blue, red], gap=2)
    assert grid.shape == (2 * 3 + 2, 3 * 5 + 2 * 2, 3)
    np.testing.assert_array_equal(grid[3:5], 255)  # gap between rows
    np.testing.assert_array_equal(grid[:, 5:7], 255)  # gap between columns
    np.testing.assert_array_equal(grid[5:8, 7:12], blue[1])
    np.testing.assert_array_equal(grid[5:8, 14:19], red[1])
    with pytest.raises(ValueError, match="differ in shape"):
        image_files.image_grid([red, blue[:1]])
    photos = np.full((1, 2, 2, 3), -1.0, np.float32)
    np.testing.assert_array_equal(image_files.side_by_side(photos, -photos, gap=1)[:, 3:], 255)


# --- hostile files (tests/hostile_files.py) ---------------------------------------------------


def test_pixel_budget_is_checked_from_the_header_before_decoding(tmp_path, monkeypatch):
    bomb = tmp_path / "bomb16.png"  # 2000 x 2000 16-bit RGBA zeros: 14 KB, ~200 MB to decode
    bomb.write_bytes(hostile_files.png_bomb(2000, 2000))
    assert image_files.read_image(bomb, max_pixels=4_000_000).shape == (2000, 2000, 3)
    jpeg = tmp_path / "bomb.jpg"
    jpeg.write_bytes(hostile_files.jpeg_claiming(60_000, 60_000))  # under OpenCV's 2^30 pixels

    def refuse(*args, **kwargs):
        raise AssertionError("decoded")

    monkeypatch.setattr(image_files.cv2, "imdecode", refuse)
    monkeypatch.setattr(image_files.cv2, "imdecodeWithMetadata", refuse)
    with pytest.raises(ImageReadError, match="its header declares 2000 x 2000 pixels, more than "
                                             "the limit of 1 megapixels"):
        image_files.read_image(bomb, max_pixels=1_000_000)
    with pytest.raises(ImageReadError, match="its header declares 60000 x 60000 pixels"):
        image_files.read_image(jpeg)


def test_a_file_too_large_for_the_budget_is_not_read(tmp_path, monkeypatch):
    path = tmp_path / "big.png"
    path.write_bytes(b"\x89PNG\r\n\x1a\n" + b"\0" * 3_000_000)

    def refuse(*args, **kwargs):
        raise AssertionError("the file was read")

    monkeypatch.setattr(image_files.np, "fromfile", refuse)
    with pytest.raises(ImageReadError, match="image too large: a 3 MB file"):
        image_files.read_image(path, max_pixels=100_000)


def test_names_that_are_not_utf8_round_trip_without_crashing_opencv(tmp_path):
    # cv2.haveImageWriter on such a name was a segmentation fault: run it in a child process.
    code = (
        "import os, sys, numpy as np\n"
        "from animegan_face.data import image_files\n"
        "path = os.path.join(os.fsdecode(sys.argv[1]), os.fsdecode(b'caf\\xe9.png'))\n"
        "rgb = np.arange(4 * 6 * 3, dtype=np.uint8).reshape(4, 6, 3)\n"
        "image_files.write_image(path, rgb)\n"
        "assert (image_files.read_image(path) == rgb).all()\n"
        "print(image_files.printable(path))\n")
    result = subprocess.run([sys.executable, "-c", code, str(tmp_path)], cwd=REPO,
                            capture_output=True, text=True, timeout=120, check=False)
    assert result.returncode == 0, result.stderr[-2000:]
    assert result.stdout.strip().endswith("caf\\xe9.png")
    assert os.listdir(os.fsencode(tmp_path)) == [b"caf\xe9.png"]


def test_scan_images_names_every_entry_that_is_no_file(tmp_path):
    reasons = hostile_files.write_hostile_folder(tmp_path)
    images, problems = image_files.scan_images(tmp_path)
    named = {os.fsencode(path.name): reason for path, reason in problems}
    not_files = {name: reason for name, reason in reasons.items()
                 if not os.path.isfile(os.path.join(os.fsencode(tmp_path), name))}
    assert len(not_files) == 6  # 2 loops, a dangling link, 2 folders, a pipe
    assert set(named) == set(not_files)
    for name, reason in not_files.items():
        assert named[name].startswith(reason), name
    assert {os.fsencode(path.name) for path in images} == set(reasons) - set(not_files)
    assert image_files.list_images(tmp_path) == images


def test_unique_stems_never_give_two_inputs_one_output():
    paths = [pathlib.Path(name) for name in ("a.jpg", "A.png", "a_png.bmp", "b.webp", "a.PNG")]
    stems = image_files.unique_stems(paths)
    assert list(stems.values()) == ["a", "A_png", "a_png_bmp", "b", "a_png2"]
    assert len({stem.casefold() for stem in stems.values()}) == len(paths)
