"""Bad inputs through dataset preparation and train.py: each is either handled or named and skipped.

One preparation reads a photo folder holding one file of every kind next to a good photo; each
case then checks its own outcome. Folder-level cases (empty folders, photos without anime
images) run on their own.
"""

import dataclasses
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

from animegan_face.config import Config, DataConfig, TrainConfig
from animegan_face.data import image_files, preparation
from animegan_face.training import train
from animegan_face.training.loop import resolve_dataset
from animegan_face.training.run_checks import SetupError

REPO = pathlib.Path(__file__).resolve().parent.parent
SIZE = 32


def _encoded(extension, bgr):
    ok, encoded = cv2.imencode(extension, bgr)
    assert ok
    return encoded.tobytes()


def _noise(height, width, seed=0):
    return np.random.default_rng(seed).integers(0, 256, (height, width, 3), np.uint8)


def _cmyk_jpeg():
    pil_image = pytest.importorskip("PIL.Image")  # cv2 cannot write CMYK; Pillow comes with tensorboard
    buffer = io.BytesIO()
    pil_image.new("CMYK", (40, 30), (0, 255, 255, 0)).save(buffer, "JPEG", quality=95)  # red
    return buffer.getvalue()


def _huge_png_header():
    """A valid PNG start that claims 100000 x 100000 pixels (a decompression bomb)."""
    def chunk(kind, data):
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    header = struct.pack(">IIBBBBB", 100000, 100000, 8, 2, 0, 0, 0)
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(b"\0" * 64))
            + chunk(b"IEND", b""))


def _flipped(data, start, stop, mask):
    data = bytearray(data)
    for index in range(start, stop):
        data[index] ^= mask
    return bytes(data)


def _photo_files():
    """{file name: bytes} of every kind of photo file, good and bad."""
    noise_jpeg, noise_png = _encoded(".jpg", _noise(64, 64)), _encoded(".png", _noise(64, 64))
    rgba = np.zeros((20, 24, 4), np.uint8)  # fully transparent
    deep = np.full((20, 24, 3), 257 * 100, np.uint16)
    return {
        "good.png": _encoded(".png", _noise(48, 40, seed=1)),
        "truncated.jpg": noise_jpeg[:len(noise_jpeg) // 2],
        "truncated_png.png": noise_png[:len(noise_png) // 2],
        "corrupt.jpg": b"\xff\xd8\xff\xe0" + b"not the rest of a JPEG" * 20,
        "corrupt_png.png": _flipped(noise_png, 100, 200, 0xFF),  # IDAT CRC mismatch
        "damaged.jpg": _flipped(noise_jpeg, 300, 400, 0x5A),  # scan data libjpeg conceals
        "empty.jpg": b"",
        "text.png": b"a text file with an image name\n" * 10,
        "gray.png": _encoded(".png", np.full((20, 30), 90, np.uint8)),
        "rgba.png": _encoded(".png", rgba),
        "deep16.png": _encoded(".png", deep),
        "cmyk.jpg": _cmyk_jpeg(),
        "huge.jpg": _encoded(".jpg", np.full((6000, 8000, 3), (90, 60, 30), np.uint8)),  # 8000x6000
        "tiny.png": _encoded(".png", np.full((10, 10, 3), (90, 60, 30), np.uint8)),
        "locked.png": _encoded(".png", _noise(20, 20)),
        "bomb.png": _huge_png_header(),
    }


# photo file -> the reason it is skipped with
SKIPPED = {
    "truncated.jpg": "JPEG data OpenCV cannot decode (truncated or corrupt)",
    "truncated_png.png": "PNG data OpenCV cannot decode (truncated or corrupt)",
    "corrupt.jpg": "JPEG header is truncated or corrupt",  # no frame header before the junk
    "corrupt_png.png": "PNG data OpenCV cannot decode (truncated or corrupt)",
    "empty.jpg": "empty file",
    "text.png": "not an image OpenCV can decode",
    "locked.png": "permission denied",
    "bomb.png": "image too large: its header declares 100000 x 100000 pixels",
}

# photo file -> the RGB colour its prepared copy has everywhere (None: only the size is checked)
READ = {
    "good.png": None,
    "damaged.jpg": None,
    "gray.png": (90, 90, 90),
    "rgba.png": (255, 255, 255),  # transparent over white
    "deep16.png": (100, 100, 100),  # 16-bit 25700 -> 100
    "cmyk.jpg": (255, 0, 0),
    "huge.jpg": (30, 60, 90),  # written as BGR (90, 60, 30)
    "tiny.png": (30, 60, 90),
}


@pytest.fixture(scope="module")
def prepared(tmp_path_factory):
    root = tmp_path_factory.mktemp("bad")
    photo_dir, anime_dir = root / "photo", root / "anime"
    photo_dir.mkdir()
    for name, data in _photo_files().items():
        (photo_dir / name).write_bytes(data)
    image_files.write_image(anime_dir / "a.png", _noise(40, 40, seed=2))
    image_files.write_image(anime_dir / "b.png", _noise(30, 50, seed=3))
    (anime_dir / "broken.jpg").write_bytes(b"")
    locked = photo_dir / "locked.png"
    locked.chmod(0)  # unreadable, except for root, for whom reading it is refused below
    real_fromfile = np.fromfile

    def fromfile(path, *args, **kwargs):
        if pathlib.Path(path).name == "locked.png":
            raise PermissionError(13, "Permission denied", str(path))
        return real_fromfile(path, *args, **kwargs)

    try:
        with pytest.MonkeyPatch.context() as patch:
            patch.setattr(image_files.np, "fromfile", fromfile)
            report = preparation.prepare_dataset(photo_dir, anime_dir, root / "out", image_size=SIZE,
                                                 upsample=0, num_workers=1, progress=False)
    finally:
        locked.chmod(0o644)
    return photo_dir, anime_dir, root / "out", report


@pytest.mark.parametrize("name", sorted(SKIPPED))
def test_bad_photo_is_skipped_with_its_reason(prepared, name):
    photo_dir, _, output_dir, report = prepared
    assert (str(photo_dir / name), SKIPPED[name]) in [
        (path, reason[:len(SKIPPED[name])]) for path, reason in report.skipped]
    assert str(photo_dir / name) in report.summary()
    assert not (output_dir / "photo" / (pathlib.Path(name).stem + ".jpg")).exists()


@pytest.mark.parametrize("name", sorted(READ))
def test_odd_but_valid_photo_is_prepared(prepared, name):
    _, _, output_dir, _ = prepared
    rgb = image_files.read_image(output_dir / "photo" / (pathlib.Path(name).stem + ".jpg"))
    assert rgb.shape == (SIZE, SIZE, 3)
    if READ[name] is not None:
        np.testing.assert_allclose(rgb.reshape(-1, 3).mean(0), READ[name], atol=8)


def test_the_rest_trains(prepared):
    _, anime_dir, output_dir, report = prepared
    assert report.photos_read == len(READ) and report.anime_read == 2
    assert report.skipped[0] == (str(anime_dir / "broken.jpg"), "empty file")  # anime sorted first
    files = resolve_dataset(Config(data=DataConfig(dataset_dir=str(output_dir), image_size=SIZE),
                                            train=TrainConfig(model_dir=str(output_dir.parent))))
    assert len(files.photos) == len(READ) and len(files.anime) == 2


def test_empty_photo_folder_is_named(tmp_path):
    (tmp_path / "photo").mkdir()
    image_files.write_image(tmp_path / "anime" / "a.png", _noise(16, 16))
    with pytest.raises(ValueError, match=f"no image files in {tmp_path / 'photo'}"):
        preparation.prepare_dataset(tmp_path / "photo", tmp_path / "anime", tmp_path / "out",
                                    num_workers=1, progress=False)
    assert not (tmp_path / "out" / "faces.json").exists()


def test_photos_but_no_anime_images(tmp_path):
    image_files.write_image(tmp_path / "photo" / "p.png", _noise(16, 16))
    (tmp_path / "anime").mkdir()
    (tmp_path / "anime" / "notes.txt").write_text("no images")
    with pytest.raises(ValueError, match=f"no image files in {tmp_path / 'anime'}"):
        preparation.prepare_dataset(tmp_path / "photo", tmp_path / "anime", tmp_path / "out",
                                    num_workers=1, progress=False)
    # A prepared dataset without its anime folder: train() names the folder before building anything.
    for folder in ("photo", "smooth"):
        image_files.write_image(tmp_path / "prepared" / folder / "p.jpg", _noise(16, 16))
    (tmp_path / "prepared" / "faces.json").write_text('{"image_size": 16, "boxes": {}}')
    config = Config(data=DataConfig(dataset_dir=str(tmp_path / "prepared"), image_size=16),
                    train=TrainConfig(model_dir=str(tmp_path / "run"), mixed_precision="off"))
    with pytest.raises(SetupError, match=f"image folder not found: {tmp_path / 'prepared' / 'anime'}"):
        train(config)


@pytest.mark.slow
def test_train_cli_names_the_empty_anime_folder(tmp_path):
    image_files.write_image(tmp_path / "photo" / "p.png", _noise(16, 16))
    (tmp_path / "anime").mkdir()
    result = subprocess.run(
        [sys.executable, "train.py", f"--model_dir={tmp_path / 'run'}", f"--photo_dir={tmp_path / 'photo'}",
         f"--anime_dir={tmp_path / 'anime'}", "--image_size=32"],
        cwd=REPO, capture_output=True, text=True, timeout=300, env=dict(os.environ))
    assert result.returncode == 1
    assert f"train.py: no image files in {tmp_path / 'anime'}" in result.stderr
    assert "Traceback" not in result.stderr


def test_skin_on_landmarks_names_a_faces_json_without_skin_regions(tmp_path):
    from animegan_face.config import LossConfig
    from tests.helpers import write_face_patch_dataset

    dataset = write_face_patch_dataset(tmp_path / "old", np.random.default_rng(0), SIZE)
    config = Config(data=DataConfig(dataset_dir=str(dataset), image_size=SIZE),
                    loss=LossConfig(skin_region="landmarks"),
                    train=TrainConfig(model_dir=str(tmp_path / "run")))
    with pytest.raises(SetupError, match=f"{dataset / 'faces.json'} holds no skin regions.*--force"):
        resolve_dataset(config)
    boxes = resolve_dataset(dataclasses.replace(config, loss=LossConfig())).photo_boxes
    assert boxes.shape == (3, 4)  # read as before when the skin is not asked for
