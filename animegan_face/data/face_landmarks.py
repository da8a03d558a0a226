"""The 468 face-mesh landmarks of a face, and how sure the model is that it sees one.

Runs MediaPipe's face landmark model (``face_model/face_landmark.tflite``, Apache-2.0, from the
``mediapipe==0.10.21`` wheel; see ``face_model/README.md``) with LiteRT (``ai-edge-litert``). The
model takes a 192 x 192 crop in which the face fills about two thirds and returns, for that crop,
468 points (x, y in crop pixels, z depth) and a face-presence logit. Points come back in pixels of
the whole image. The crop follows MediaPipe's own pipeline: a first pass on a square 1.5 times the
detector's box, then a second pass on a square 1.5 times the landmarks' extent, rotated so that the
eyes are level (the model was trained on such crops, and is much less accurate off them).
"""

import dataclasses
import functools
import hashlib
import pathlib

import cv2
import numpy as np

MODEL_PATH = pathlib.Path(__file__).parent / "face_model" / "face_landmark.tflite"
MODEL_SHA256 = "1055cb9d4a9ca8b8c688902a3a5194311138ba256bcc94e336d8373a5f30c814"
INPUT_SIZE = 192
# MediaPipe's ROI rule (face_landmark_landmarks_to_roi / face_detection_front_detection_to_roi):
# the square crop is 1.5 times the face's extent.
ROI_SCALE = 1.5
# Passes on the eye-levelled crop after the first, upright one. One pass leaves a head tilted by
# 35 degrees about 6 degrees short of level (its points 2.8 px off the upright photo's, mean, on
# the astronaut); two bring it within 1 degree and 0.7 px (tests/test_face_landmarks.py).
REFINE_PASSES = 2
# Mesh indices (MediaPipe's canonical face mesh): outer and inner corners of each eye. "Right"
# is the person's right eye, on the image's left in an upright, unmirrored photo.
RIGHT_EYE_CORNERS = (33, 133)
LEFT_EYE_CORNERS = (362, 263)
MOUTH_CORNERS = (61, 291)


class FaceModelError(RuntimeError):
    """The landmark model file is missing, altered, or cannot be run."""


@dataclasses.dataclass(frozen=True)
class FaceLandmarks:
    """Args:
        points: (468, 2) float32 x, y in pixels of the image the landmarks were found in.
        presence: in [0, 1], the model's probability that its crop held a face (sigmoid of its
            face-flag logit); MediaPipe drops a tracked face below 0.5.
    """

    points: np.ndarray
    presence: float

    def eye_centres(self):
        """(2, 2): the person's right eye centre then left eye centre, each the mean of its corners."""
        return np.stack([self.points[list(RIGHT_EYE_CORNERS)].mean(axis=0),
                         self.points[list(LEFT_EYE_CORNERS)].mean(axis=0)])

    def mouth_centre(self):
        return self.points[list(MOUTH_CORNERS)].mean(axis=0)

    def roll_degrees(self):
        """Head roll: the angle of the line from the right to the left eye, counter-clockwise
        positive in the image (y down), 0 when the eyes are level."""
        right, left = self.eye_centres()
        return float(np.degrees(np.arctan2(-(left[1] - right[1]), left[0] - right[0])))


def crop_matrix(centre, side, angle_degrees, size=INPUT_SIZE):
    """2x3 affine matrix from image pixels to a ``size`` x ``size`` crop: the square of side
    ``side`` centred on ``centre`` (x, y), turned by ``angle_degrees`` (counter-clockwise, as
    ``cv2.getRotationMatrix2D``) so that content rotated by that angle comes out upright."""
    matrix = cv2.getRotationMatrix2D((float(centre[0]), float(centre[1])), -angle_degrees,
                                     size / side)
    matrix[:, 2] += np.array([size / 2 - centre[0], size / 2 - centre[1]])
    return matrix


def landmarks_in_square(rgb, centre, side, angle_degrees=0.0):
    """One pass of the model on the square ``crop_matrix(centre, side, angle)`` of ``rgb``."""
    matrix = crop_matrix(centre, side, angle_degrees)
    crop = cv2.warpAffine(rgb, matrix, (INPUT_SIZE, INPUT_SIZE), flags=cv2.INTER_LINEAR,
                          borderMode=cv2.BORDER_REPLICATE)
    points, logit = _model()(crop.astype(np.float32)[None] / 255.0)
    inverse = cv2.invertAffineTransform(matrix)
    xy = points[:, :2] @ inverse[:, :2].T + inverse[:, 2]
    return FaceLandmarks(points=xy.astype(np.float32),
                         presence=float(1.0 / (1.0 + np.exp(-np.clip(logit, -60.0, 60.0)))))


def landmarks_for_box(rgb, box, angle_degrees=0.0):
    """Landmarks of the face in a detector box (``faces.FaceBox``): the first pass on the square
    1.5x the box, turned by ``angle_degrees`` (the head's roll when the detector gives one, as
    MediaPipe turns its first crop by the detector's eye key points; 0: upright), then
    ``REFINE_PASSES`` on the eye-levelled square 1.5x the previous pass's points. Returns the last
    pass's points with the lowest presence of all passes: a true face scores about 1 in every pass,
    while on a face-like pattern the passes wander and their scores jump (the astronaut's mission
    patch: 0.12, 0.21, 0.78 on one turned copy)."""
    rgb = np.asarray(rgb)
    if rgb.dtype != np.uint8 or rgb.ndim != 3 or rgb.shape[2] != 3:
        raise ValueError(f"expected a uint8 HxWx3 RGB array, got {rgb.dtype} {rgb.shape}")
    centre = ((box.left + box.right) / 2, (box.top + box.bottom) / 2)
    landmarks = landmarks_in_square(rgb, centre, ROI_SCALE * max(box.width, box.height),
                                    angle_degrees)
    presence = landmarks.presence
    for _ in range(REFINE_PASSES):
        landmarks = refine(rgb, landmarks)
        presence = min(presence, landmarks.presence)
    return dataclasses.replace(landmarks, presence=presence)


def refine(rgb, landmarks):
    """Another pass on the eye-levelled square 1.5x the extent of ``landmarks`` (MediaPipe's
    tracking step): the points of a tilted face come out as accurate as an upright one's."""
    angle = landmarks.roll_degrees()
    # The extent is measured in the rotated frame, so that a tilted face gets the same square.
    rotation = cv2.getRotationMatrix2D((0.0, 0.0), -angle, 1.0)[:, :2]
    turned = landmarks.points @ rotation.T
    low, high = turned.min(axis=0), turned.max(axis=0)
    centre = ((low + high) / 2) @ rotation  # back to image coordinates (rotation is orthonormal)
    return landmarks_in_square(rgb, centre, ROI_SCALE * float(np.max(high - low)), angle)


def read_pinned_model(path, sha256, what, error=FaceModelError):
    """The bytes of a committed model file, or ``error`` naming the file when it cannot be read
    or its sha256 is not the pinned one (``what`` names the model in the message)."""
    try:
        data = pathlib.Path(path).read_bytes()
    except OSError as problem:
        raise error(f"{path}: cannot read the {what}: {problem}") from problem
    digest = hashlib.sha256(data).hexdigest()
    if digest != sha256:
        raise error(f"{path}: sha256 {digest} is not the pinned {sha256}; restore it with "
                    "`python fetch_face_model.py`")
    return data


@functools.lru_cache(maxsize=None)
def _model():
    """The interpreter, loaded once per process: (1, 192, 192, 3) float in [0, 1] ->
    ((468, 3) points in crop pixels, face-flag logit)."""
    data = read_pinned_model(MODEL_PATH, MODEL_SHA256, "face landmark model")
    from ai_edge_litert.interpreter import Interpreter  # pylint: disable=import-outside-toplevel

    interpreter = Interpreter(model_content=data, num_threads=1)
    interpreter.allocate_tensors()
    (image_input,) = interpreter.get_input_details()
    outputs = {detail["name"]: detail["index"] for detail in interpreter.get_output_details()}

    def run(batch):
        interpreter.set_tensor(image_input["index"], batch)
        interpreter.invoke()
        points = interpreter.get_tensor(outputs["conv2d_21"]).reshape(468, 3)
        logit = float(interpreter.get_tensor(outputs["conv2d_31"]).reshape(()))
        return points, logit

    return run
