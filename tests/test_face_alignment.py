"""The one alignment of training crops and stylisation: eyes to fixed places, any head roll."""

import cv2
import numpy as np
import pytest

from animegan_face.data import face_alignment, face_finder, image_files
from animegan_face.data.face_landmarks import FaceLandmarks
from bench import face_sets


def _landmarks_with_eyes(right, left):
    """FaceLandmarks whose eye-corner points (33, 133 | 362, 263) average to the given centres."""
    points = np.zeros((468, 2), np.float32)
    for index, centre in ((33, right), (133, right), (362, left), (263, left)):
        points[index] = centre
    points[33] -= (3, 0)
    points[133] += (3, 0)
    return FaceLandmarks(points=points, presence=1.0)


@pytest.mark.parametrize("margin", [0.25, 0.6])
@pytest.mark.parametrize("right, left", [((40.0, 50.0), (80.0, 50.0)),   # level
                                         ((40.0, 80.0), (80.0, 40.0)),   # tilted 45 degrees
                                         ((300.0, 10.0), (250.0, 30.0))])  # upside down-ish
def test_eyes_land_on_the_canonical_places(margin, right, left):
    size = 128
    matrix = face_alignment.alignment_matrix(_landmarks_with_eyes(right, left), size, margin)
    side = face_alignment.crop_side_in_eye_distances(margin)
    eye_y = (0.5 - face_alignment.BOX_CENTRE_BELOW_EYES / side) * size
    expected = [[size / 2 - size / side / 2, eye_y], [size / 2 + size / side / 2, eye_y]]
    mapped = np.array([right, left]) @ matrix[:, :2].T + matrix[:, 2]
    np.testing.assert_allclose(mapped, expected, atol=1e-9)
    # A similarity: equal scale on both axes, no shear.
    linear = matrix[:, :2]
    np.testing.assert_allclose(linear @ linear.T, np.eye(2) * face_alignment.matrix_scale(matrix) ** 2,
                               atol=1e-9)


def test_default_framing_is_the_training_selfies():
    # Medians of the held-out selfies (face_alignment's docstring): eye distance 0.288 of the side,
    # eyes at y 0.357. The default margin must keep that framing.
    side = face_alignment.crop_side_in_eye_distances(face_alignment.DEFAULT_MARGIN)
    assert 1 / side == pytest.approx(0.288, abs=0.005)
    assert 0.5 - face_alignment.BOX_CENTRE_BELOW_EYES / side == pytest.approx(0.357, abs=0.005)
    assert face_alignment.face_box_in_crop(0.6) == pytest.approx((0.5 - 0.5 / 2.2, 0.5 - 0.5 / 2.2,
                                                                  0.5 + 0.5 / 2.2, 0.5 + 0.5 / 2.2))


def test_coincident_eyes_and_bad_margin_are_errors():
    with pytest.raises(ValueError, match="eye centres coincide"):
        face_alignment.alignment_matrix(_landmarks_with_eyes((5.0, 5.0), (5.0, 5.0)), 64)
    with pytest.raises(ValueError, match="margin"):
        face_alignment.crop_side_in_eye_distances(-0.1)


def test_large_faces_are_shrunk_without_aliasing():
    # A 1-pixel checkerboard seen 8x smaller: averaging gives mid grey; plain bilinear sampling
    # would hit single squares and give 0 or 255.
    board = (((np.indices((512, 512)).sum(axis=0)) % 2) * 255).astype(np.uint8)
    board = np.repeat(board[..., None], 3, axis=2)
    matrix = np.array([[0.125, 0.0, 0.0], [0.0, 0.125, 0.0]])
    crop = face_alignment.warp_to_crop(board, matrix, 64)
    assert np.abs(crop[8:-8, 8:-8].astype(int) - 127.5).max() < 10
    # And the shrink step keeps positions: a smooth ramp comes out as the direct warp gives it.
    ramp = np.repeat(np.tile(np.linspace(0, 255, 512, dtype=np.float32), (512, 1))[..., None], 3, 2)
    ramp = ramp.astype(np.uint8)
    direct = cv2.warpAffine(ramp, matrix, (64, 64), flags=cv2.INTER_LINEAR)
    # 1 level: uint8 rounding of the two paths; positions off by a pixel would differ by 4.
    assert np.abs(face_alignment.warp_to_crop(ramp, matrix, 64)[4:-4, 4:-4].astype(int)
                  - direct[4:-4, 4:-4]).max() <= 1


def test_turned_photo_gives_the_upright_crop():
    astronaut = image_files.read_image(face_sets.ASTRONAUT)
    upright, _ = face_alignment.aligned_face(astronaut, face_finder.find_faces(astronaut)[0].landmarks, 128)
    turned = face_sets.rotate_whole(astronaut, 35)
    crop, _ = face_alignment.aligned_face(turned, face_finder.find_faces(turned)[0].landmarks, 128)
    # Measured 6.3 grey levels mean (two resamplings and 0.5 px of landmark difference); an
    # unrotated crop of the turned photo (same centre and scale) differs by 74.
    assert np.abs(crop.astype(int) - upright).mean() < 10
