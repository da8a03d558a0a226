"""One alignment for training crops and stylisation: a similarity transform to a canonical face.

``alignment_matrix`` turns, scales and shifts an image so that the eyes are level, ``EYE_DISTANCE``
apart and their midpoint at ``(0.5, EYE_Y)`` of a square crop, the framing of the selfies the
shipped model was trained on. ``prepare.py --crop_faces`` writes such crops, and face mode
stylises such crops and warps them back, so training and use see faces framed alike.

The framing is given, as before alignment, by ``margin``: the crop side is ``(1 + 2 * margin)``
times the face size, taken as ``FACE_PER_EYE_DISTANCE`` times the eye distance (about dlib's box
width), and the crop centre sits ``BOX_CENTRE_BELOW_EYES`` eye distances below the eye midpoint
(about dlib's box centre). Medians over 188 of the 200 held-out selfie2anime photos (those dlib
finds; printed by ``bench/face_alignment.py --photo_dir``): eye distance 0.288 of the photo side,
eye midpoint at (0.501, 0.357), dlib box width 2.32 and box centre 0.49 eye distances below the
eyes. ``DEFAULT_MARGIN`` 0.25 reproduces that framing (eye distance 1 / (1.5 * 2.32) = 0.287,
eyes at y = 0.5 - 0.49 / 3.48 = 0.359).
"""

import cv2
import numpy as np

FACE_PER_EYE_DISTANCE = 2.32
BOX_CENTRE_BELOW_EYES = 0.49
DEFAULT_MARGIN = 0.25


def crop_side_in_eye_distances(margin):
    """The crop side in units of the eye distance."""
    if margin < 0:
        raise ValueError(f"margin must be >= 0, got {margin}")
    return (1 + 2 * margin) * FACE_PER_EYE_DISTANCE


def alignment_matrix(landmarks, size, margin=DEFAULT_MARGIN):
    """2x3 similarity matrix from image pixels to the ``size`` x ``size`` aligned crop.

    Args:
        landmarks: ``face_landmarks.FaceLandmarks`` of the face (its eye centres are used).
        size: crop side in pixels.
        margin: framing, see the module docstring (0.25: the training selfies' framing).
    Returns:
        float64 (2, 3) ``M`` with ``crop_xy = M[:, :2] @ image_xy + M[:, 2]``.
    """
    right, left = landmarks.eye_centres().astype(np.float64)
    eye_vector = left - right  # the person's right eye is on the image's left
    distance = float(np.hypot(*eye_vector))
    if not distance > 0:
        raise ValueError("the eye centres coincide: no alignment")
    scale = size / (crop_side_in_eye_distances(margin) * distance)
    cos, sin = eye_vector / distance
    # Rotation by minus the eye line's angle (image y down), then scale.
    linear = scale * np.array([[cos, sin], [-sin, cos]])
    middle = (right + left) / 2
    eye_y = 0.5 - BOX_CENTRE_BELOW_EYES / crop_side_in_eye_distances(margin)
    offset = np.array([0.5 * size, eye_y * size]) - linear @ middle
    return np.concatenate([linear, offset[:, None]], axis=1)


def matrix_scale(matrix):
    """The similarity's scale factor (crop pixels per image pixel)."""
    return float(np.sqrt(abs(np.linalg.det(np.asarray(matrix)[:, :2]))))


def warp_to_crop(rgb, matrix, size):
    """The ``size`` x ``size`` crop ``matrix`` describes; outside the image filled by reflection
    (as the square crops before alignment). A face larger than the crop is first shrunk with
    area averaging, since ``cv2.warpAffine`` alone would alias it."""
    matrix = np.asarray(matrix, np.float64)
    scale = matrix_scale(matrix)
    if scale < 0.5:
        # Shrink to about twice the crop resolution, then warp (the rest of the scale).
        factor = 2 * scale
        height, width = rgb.shape[:2]
        shrunk_size = (max(1, round(width * factor)), max(1, round(height * factor)))
        rgb = cv2.resize(rgb, shrunk_size, interpolation=cv2.INTER_AREA)
        # cv2.resize maps pixel centres: shrunk = s * (x + 0.5) - 0.5 on each axis.
        factors = np.array([shrunk_size[0] / width, shrunk_size[1] / height])
        linear = matrix[:, :2] / factors
        offset = matrix[:, 2] - linear @ ((factors - 1) / 2)
        matrix = np.concatenate([linear, offset[:, None]], axis=1)
    return cv2.warpAffine(rgb, matrix, (size, size), flags=cv2.INTER_LINEAR,
                          borderMode=cv2.BORDER_REFLECT_101)


def face_box_in_crop(margin=DEFAULT_MARGIN):
    """The face box of every aligned crop, normalised ``(y0, x0, y1, x1)``: the centred square
    of side ``1 / (1 + 2 * margin)`` (where dlib's box lands for a typical face; the
    convention of ``faces.FaceBox.normalized``)."""
    half = 0.5 / (1 + 2 * margin)
    return (0.5 - half, 0.5 - half, 0.5 + half, 0.5 + half)


def points_in_crop(landmarks, matrix):
    """The (N, 2) landmark points (pixels of the photo) in the crop that ``matrix`` maps to."""
    return landmarks.points.astype(np.float64) @ matrix[:, :2].T + matrix[:, 2]


def aligned_face(rgb, landmarks, size, margin=DEFAULT_MARGIN):
    """The aligned ``size`` x ``size`` crop of one face and its matrix (see ``alignment_matrix``)."""
    matrix = alignment_matrix(landmarks, size, margin)
    return warp_to_crop(rgb, matrix, size), matrix
