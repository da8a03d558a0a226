"""One face through a stylizer and back: aligned warp round trip and the face-shaped mask."""

import numpy as np
import pytest

from animegan_face.data import face_finder, image_files
from animegan_face.deployment import face_paste
from bench import face_sets


@pytest.fixture(scope="module")
def photo():
    astronaut = image_files.read_image(face_sets.ASTRONAUT)
    return astronaut, face_finder.find_faces(astronaut)[0]


def test_identity_stylizer_leaves_the_photo(photo):
    astronaut, face = photo
    canvas = astronaut.copy()
    face_paste.stylize_aligned(lambda crop: crop, astronaut, canvas, face.landmarks, 256)
    # Warped there and back (bilinear, then bicubic at 1.9x): measured 1.0 mean, the rest
    # of the image untouched.
    assert np.abs(canvas.astype(int) - astronaut).mean() < 2
    np.testing.assert_array_equal(canvas[300:], astronaut[300:])


def test_pasted_face_follows_the_oval_not_a_square(photo):
    astronaut, face = photo
    canvas = astronaut.copy()
    red = lambda crop: np.broadcast_to(np.array([255, 0, 0], np.uint8), crop.shape).copy()
    face_paste.stylize_aligned(red, astronaut, canvas, face.landmarks, 128)
    # Mask above about 0.1: red on skin or hair moves the colour by about 300 in R + G + B.
    changed = np.abs(canvas.astype(int) - astronaut).sum(axis=2) > 30
    x, y = np.round(face.landmarks.points[4]).astype(int)  # nose tip
    np.testing.assert_array_equal(canvas[y, x], [255, 0, 0])
    # The changed region's corners are rounded: the bounding box of the change is far from full.
    rows, columns = np.nonzero(changed)
    box_area = (rows.max() - rows.min() + 1) * (columns.max() - columns.min() + 1)
    assert changed.sum() < 0.85 * box_area  # an ellipse fills pi / 4 = 0.79 of its box
    assert not (canvas[330:] != astronaut[330:]).any()  # the mission patch is not a face


def test_square_paste_is_the_earlier_square(photo):
    astronaut, face = photo
    canvas = astronaut.copy()
    red = lambda crop: np.broadcast_to(np.array([255, 0, 0], np.uint8), crop.shape).copy()
    face_paste.stylize_square(red, astronaut, canvas, face.box, 64, margin=0.6, feather=0.15)
    changed = np.abs(canvas.astype(int) - astronaut).sum(axis=2) > 0
    rows, columns = np.nonzero(changed)
    box_area = (rows.max() - rows.min() + 1) * (columns.max() - columns.min() + 1)
    assert changed.sum() > 0.95 * box_area  # a square


def test_square_mask_is_one_inside_and_fades_out():
    mask = face_paste.square_mask(40, 0.15)
    assert mask[20, 20] == 1.0 and mask[0, 0] < 0.01 and 0 < mask[20, 2] < 1
