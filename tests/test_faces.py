"""Tests for animegan_face.data.faces: dlib HOG detection on the astronaut photo, boxes, crop squares."""

import dataclasses
import pathlib
import sys

import cv2
import numpy as np
import pytest

from animegan_face.data import faces
from animegan_face.data import image_files
from animegan_face.data.faces import FaceBox

ASTRONAUT = pathlib.Path(__file__).parent.parent / "assets" / "astronaut.jpg"
# dlib's box at upsample 0 (inclusive corners 179, 83, 266, 170) as half-open edges.
ASTRONAUT_FACE = FaceBox(left=179, top=83, right=267, bottom=171, score=0.0)


def _iou(a, b):
    width = max(0, min(a.right, b.right) - max(a.left, b.left))
    height = max(0, min(a.bottom, b.bottom) - max(a.top, b.top))
    inter = width * height
    return inter / (a.width * a.height + b.width * b.height - inter)


@pytest.fixture(scope="module")
def astronaut():
    return image_files.read_image(ASTRONAUT)


@pytest.mark.parametrize("upsample", [0, 1])
def test_finds_the_astronaut(astronaut, upsample):
    boxes = faces.detect_faces(astronaut, upsample=upsample)
    assert boxes, "no face found"
    assert _iou(boxes[0], ASTRONAUT_FACE) > 0.5
    assert boxes[0].score > 0.5
    scores = [box.score for box in boxes]
    assert scores == sorted(scores, reverse=True)
    for box in boxes:
        assert isinstance(box.left, int) and isinstance(box.bottom, int)
        assert 0 <= box.left < box.right <= 512 and 0 <= box.top < box.bottom <= 512


def test_large_images_are_detected_on_a_shrunk_copy(astronaut):
    large = cv2.resize(astronaut, (1536, 1536), interpolation=cv2.INTER_CUBIC)
    boxes = faces.detect_faces(large, upsample=0, max_side=512)
    scaled = FaceBox(*(3 * value for value in dataclasses.astuple(ASTRONAUT_FACE)[:4]), score=0.0)
    assert _iou(boxes[0], scaled) > 0.5


def test_face_free_image_gives_no_boxes():
    rng = np.random.default_rng(0)
    noise = cv2.GaussianBlur(rng.integers(0, 256, (200, 240, 3), np.uint8), (0, 0), 3)
    assert faces.detect_faces(noise, upsample=1) == []
    assert faces.detect_faces(np.full((64, 64, 3), 128, np.uint8)) == []


def test_rejects_non_rgb_input():
    with pytest.raises(ValueError, match="HxWx3"):
        faces.detect_faces(np.zeros((32, 32), np.uint8))
    with pytest.raises(ValueError, match="HxWx3"):
        faces.detect_faces(np.zeros((32, 32, 3), np.float32))


def test_missing_dlib_gives_an_actionable_error(monkeypatch):
    monkeypatch.setitem(sys.modules, "dlib", None)  # makes `import dlib` raise ImportError
    faces._frontal_face_detector.cache_clear()  # pylint: disable=protected-access
    try:
        with pytest.raises(ImportError, match=r"pip install dlib-bin==20\.0\.1\.post1"):
            faces.detect_faces(np.zeros((32, 32, 3), np.uint8))
    finally:
        faces._frontal_face_detector.cache_clear()  # pylint: disable=protected-access


def test_face_box_is_frozen_and_normalizes_pixel_edges():
    box = FaceBox(left=10, top=20, right=30, bottom=60, score=1.0)
    with pytest.raises(dataclasses.FrozenInstanceError):
        box.left = 0  # type: ignore[misc]
    assert (box.width, box.height) == (20, 40)
    # Pixel edges over the image size: y0 = top / H, y1 = bottom / H (likewise x).
    assert box.normalized(100, 50) == pytest.approx((0.2, 0.2, 0.6, 0.6))
    whole = FaceBox(left=0, top=0, right=64, bottom=48, score=1.0)
    assert whole.normalized(48, 64) == (0.0, 0.0, 1.0, 1.0)


def test_square_crop_box_centres_and_scales():
    box = FaceBox(left=100, top=50, right=140, bottom=110, score=1.0)  # 40 wide, 60 high
    y0, x0, height, width = faces.square_crop_box(box, 300, 300, margin=0.5)
    assert height == width == 120  # (1 + 2 * 0.5) * max(40, 60)
    assert (y0 + height / 2, x0 + width / 2) == (80, 120)  # centre of the face box
    assert faces.square_crop_box(box, 300, 300, margin=0.0)[2] == 60


def test_square_crop_box_may_leave_the_image():
    box = FaceBox(left=0, top=0, right=20, bottom=20, score=1.0)
    y0, x0, side, _ = faces.square_crop_box(box, 30, 30, margin=1.0)
    assert (y0, x0, side) == (-20, -20, 60)


def test_square_crop_box_rejects_bad_arguments():
    box = FaceBox(left=0, top=0, right=20, bottom=20, score=1.0)
    with pytest.raises(ValueError, match="margin"):
        faces.square_crop_box(box, 30, 30, margin=-0.1)
    with pytest.raises(ValueError, match="inside"):
        faces.square_crop_box(box, 10, 10, margin=0.5)
