"""The face landmark model: points on the astronaut, the same points when the head is turned,
the presence score, and a clear error for an altered model file."""

import pathlib

import cv2
import numpy as np
import pytest

from animegan_face.data import face_landmarks, faces, image_files

ASTRONAUT = pathlib.Path(__file__).parent.parent / "assets" / "astronaut.jpg"


@pytest.fixture(scope="module")
def astronaut():
    return image_files.read_image(ASTRONAUT)


@pytest.fixture(scope="module")
def upright(astronaut):
    return face_landmarks.landmarks_for_box(astronaut, faces.detect_faces(astronaut, upsample=0)[0])


def _turned(rgb, degrees):
    """``rgb`` turned counter-clockwise about its centre on a canvas holding all of it, and the
    2x3 matrix from ``rgb`` to the canvas."""
    height, width = rgb.shape[:2]
    matrix = cv2.getRotationMatrix2D((width / 2, height / 2), degrees, 1.0)
    side = int(np.ceil(width * abs(matrix[0, 0]) + height * abs(matrix[0, 1])))
    matrix[:, 2] += ((side - width) / 2, (side - height) / 2)
    return cv2.warpAffine(rgb, matrix, (side, side), flags=cv2.INTER_CUBIC,
                          borderValue=(128, 128, 128)), matrix


def test_astronaut_points_and_presence(upright):
    assert upright.points.shape == (468, 2) and upright.points.dtype == np.float32
    assert upright.presence > 0.99
    # Eye centres read off the photo by eye (the mean of each eye's corner points lands on the
    # pupil to within a few pixels); 3 px leaves room for any CPU's float rounding in the model.
    np.testing.assert_allclose(upright.eye_centres(), [[203.5, 102.5], [246.4, 104.8]], atol=3)
    assert upright.roll_degrees() == pytest.approx(-3.1, abs=1.0)  # her left eye slightly lower
    assert 170 < upright.points[:, 0].min() and upright.points[:, 0].max() < 280


@pytest.mark.parametrize("degrees", [20, -35])
def test_turned_head_gives_the_same_points(astronaut, upright, degrees):
    turned, matrix = _turned(astronaut, degrees)
    box = faces.detect_faces(turned, upsample=1)[0]
    landmarks = face_landmarks.landmarks_for_box(turned, box)
    assert landmarks.roll_degrees() == pytest.approx(upright.roll_degrees() + degrees, abs=2.0)
    inverse = cv2.invertAffineTransform(matrix)
    back = landmarks.points @ inverse[:, :2].T + inverse[:, 2]
    # Measured: 0.4 px (20 deg) and 0.7 px (-35 deg) mean; one refining pass gave 2.8 px at -35.
    assert np.linalg.norm(back - upright.points, axis=1).mean() < 1.5


def test_no_face_scores_low(astronaut):
    # The mission patch, which dlib's HOG detector takes for a face (score 0.1).
    patch = faces.FaceBox(left=131, top=333, right=219, bottom=420, score=0.1)
    assert face_landmarks.landmarks_for_box(astronaut, patch).presence < 0.5
    flat = np.full((200, 200, 3), 128, np.uint8)
    assert face_landmarks.landmarks_for_box(flat, faces.FaceBox(50, 50, 150, 150, 1.0)).presence < 0.5


def test_crop_matrix_centres_and_levels():
    matrix = face_landmarks.crop_matrix((100.0, 50.0), side=96, angle_degrees=30)
    centre = matrix @ np.array([100.0, 50.0, 1.0])
    np.testing.assert_allclose(centre, [96, 96], atol=1e-9)  # 192 / 2
    # A point 10 px along a line tilted 30 degrees counter-clockwise lands level, 20 px (2x) out.
    tilted = np.array([100 + 10 * np.cos(np.radians(30)), 50 - 10 * np.sin(np.radians(30)), 1.0])
    np.testing.assert_allclose(matrix @ tilted, [116, 96], atol=1e-9)


def test_rejects_non_rgb(astronaut):
    with pytest.raises(ValueError, match="HxWx3"):
        face_landmarks.landmarks_for_box(astronaut[..., 0], faces.FaceBox(0, 0, 10, 10, 1.0))


def test_altered_model_file_is_a_clear_error(tmp_path, monkeypatch):
    altered = tmp_path / "face_landmark.tflite"
    data = bytearray(face_landmarks.MODEL_PATH.read_bytes())
    data[-1] ^= 0xFF
    altered.write_bytes(bytes(data))
    monkeypatch.setattr(face_landmarks, "MODEL_PATH", altered)
    face_landmarks._model.cache_clear()  # pylint: disable=protected-access
    try:
        with pytest.raises(face_landmarks.FaceModelError, match="face_landmark.tflite: sha256"):
            face_landmarks.landmarks_for_box(np.zeros((64, 64, 3), np.uint8),
                                             faces.FaceBox(0, 0, 64, 64, 1.0))
        monkeypatch.setattr(face_landmarks, "MODEL_PATH", tmp_path / "missing.tflite")
        face_landmarks._model.cache_clear()  # pylint: disable=protected-access
        with pytest.raises(face_landmarks.FaceModelError, match="missing.tflite: cannot read"):
            face_landmarks.landmarks_for_box(np.zeros((64, 64, 3), np.uint8),
                                             faces.FaceBox(0, 0, 64, 64, 1.0))
    finally:
        face_landmarks._model.cache_clear()  # pylint: disable=protected-access
