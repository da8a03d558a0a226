"""A second face detector, for faces dlib's frontal HOG detector misses (heads turned or tilted).

Runs MediaPipe's short-range face detector, BlazeFace
(``face_model/face_detection_short_range.tflite``, Apache-2.0, from the ``mediapipe==0.10.21``
wheel; see ``face_model/README.md``) with LiteRT. The model sees the whole image shrunk into a 128 x
128 square (letterboxed, values in [-1, 1]) and scores 896 fixed anchors; each anchor regresses a
box and six key points (eyes, nose tip, mouth, ears). Decoding follows MediaPipe's
face_detection_short_range graph: SSD anchors (4 layers, strides 8, 16, 16, 16, two anchors per
cell, fixed size), offsets divided by 128 and added to the anchor centre, sigmoid scores of at least
0.5, then weighted non-maximum suppression at IoU 0.3. Made for faces within about 2 m of a phone
camera: it finds faces wider than about a seventh of the image's longer side, not the small faces of
a group photo (dlib finds those).
"""

import dataclasses
import functools
import pathlib

import cv2
import numpy as np

from animegan_face.data import face_landmarks
from animegan_face.data.faces import FaceBox

MODEL_PATH = pathlib.Path(__file__).parent / "face_model" / "face_detection_short_range.tflite"
MODEL_SHA256 = "bbff11cebd1eb27a1e004cae0b0e63ec8c551cbf34a4451148b4908b8db3eca8"
INPUT_SIZE = 128
# MediaPipe's face_detection_short_range.pbtxt: SsdAnchorsCalculator options.
STRIDES = (8, 16, 16, 16)
# Aspect ratio 1.0 plus the interpolated scale (interpolated_scale_aspect_ratio 1.0).
ANCHORS_PER_LAYER = 2
# TensorsToDetectionsCalculator (min_score_thresh) and NonMaxSuppressionCalculator options.
MIN_SCORE = 0.5
NMS_IOU = 0.3
KEYPOINTS = ("right_eye", "left_eye", "nose_tip", "mouth", "right_ear", "left_ear")


class DetectorModelError(face_landmarks.FaceModelError):
    """The face detector model file is missing, altered, or cannot be run."""


@dataclasses.dataclass(frozen=True)
class Detection:
    """One face the detector found, in pixels of the image it was run on.

    Args:
        box: (x0, y0, x1, y1) float32.
        keypoints: (6, 2) float32 x, y in ``KEYPOINTS`` order ("right" is the person's right).
        score: in [0, 1], the sigmoid of the anchor's logit.
    """

    box: np.ndarray
    keypoints: np.ndarray
    score: float

    def face_box(self, height, width):
        """The box as a ``faces.FaceBox`` (integer edges clipped to an ``height x width`` image,
        ``detector="blazeface"``), or None when nothing of it lies in the image."""
        x0, y0, x1, y1 = self.box
        box = FaceBox(left=max(0, int(np.floor(x0))), top=max(0, int(np.floor(y0))),
                      right=min(width, int(np.ceil(x1))), bottom=min(height, int(np.ceil(y1))),
                      score=self.score, detector="blazeface")
        return box if box.width > 0 and box.height > 0 else None

    def roll_degrees(self):
        """Head roll from the eye key points, as ``FaceLandmarks.roll_degrees``: the angle of the
        line from the right to the left eye, counter-clockwise positive (y down), 0 when level."""
        (right_x, right_y), (left_x, left_y) = self.keypoints[:2]
        return float(np.degrees(np.arctan2(-(left_y - right_y), left_x - right_x)))


def anchor_centres():
    """(896, 2) anchor centres (x, y) in [0, 1] of the model's input, in the order of its outputs:
    layer by layer, then row, column, anchor (MediaPipe's SsdAnchorsCalculator)."""
    centres = []
    layer = 0
    while layer < len(STRIDES):
        stride = STRIDES[layer]
        same = sum(1 for s in STRIDES[layer:] if s == stride)  # consecutive layers share a grid
        cells = int(np.ceil(INPUT_SIZE / stride))
        y, x = np.mgrid[0:cells, 0:cells]
        grid = np.stack([(x + 0.5) / cells, (y + 0.5) / cells], axis=-1).reshape(-1, 1, 2)
        centres.append(np.repeat(grid, same * ANCHORS_PER_LAYER, axis=1).reshape(-1, 2))
        layer += same
    return np.concatenate(centres).astype(np.float32)


def decode(regressors, logits, min_score=MIN_SCORE):
    """Raw model outputs to detections in [0, 1] of the model input.

    Args:
        regressors: (896, 16) float: per anchor, x and y centre offset, width, height, then the
            six key points' x, y offsets, all in input pixels (of 128).
        logits: (896,) float face logits.
    Returns:
        (boxes (N, 4) x0, y0, x1, y1; keypoints (N, 6, 2) x, y; scores (N,)), N the anchors
        scoring >= ``min_score``, before non-maximum suppression, best first.
    """
    regressors = np.asarray(regressors, np.float32).reshape(-1, 16)
    logits = np.asarray(logits, np.float32).reshape(-1)
    centres = anchor_centres()
    if regressors.shape[0] != len(centres) or logits.shape[0] != len(centres):
        raise ValueError(f"expected {len(centres)} anchors, got regressors {regressors.shape} "
                         f"and logits {logits.shape}")
    # MediaPipe clips the logit to +-100 (score_clipping_thresh) before the sigmoid.
    clipped = np.clip(logits.astype(np.float64), -100.0, 100.0)
    scores = (1.0 / (1.0 + np.exp(-clipped))).astype(np.float32)
    keep = np.flatnonzero(scores >= min_score)
    keep = keep[np.argsort(-scores[keep], kind="stable")]
    offsets = regressors[keep] / INPUT_SIZE
    centre = centres[keep] + offsets[:, 0:2]
    half = offsets[:, 2:4] / 2
    boxes = np.concatenate([centre - half, centre + half], axis=1)
    keypoints = centres[keep, None, :] + offsets[:, 4:16].reshape(-1, 6, 2)
    return boxes, keypoints, scores[keep]


def weighted_nms(boxes, keypoints, scores, iou=NMS_IOU):
    """MediaPipe's WEIGHTED non-maximum suppression: the best remaining detection and all that
    overlap it by IoU > ``iou`` become one, their boxes and key points averaged by score, with
    the best one's score. Inputs best first, as ``decode`` returns them."""
    remaining = list(range(len(scores)))
    merged = []
    while remaining:
        best = remaining[0]
        overlaps = box_iou(boxes[best], boxes[remaining])
        group = [index for index, overlap in zip(remaining, overlaps) if overlap > iou]
        weights = scores[group][:, None]
        merged.append(((boxes[group] * weights).sum(0) / weights.sum(),
                       (keypoints[group] * weights[:, :, None]).sum(0) / weights.sum(),
                       float(scores[best])))
        remaining = [index for index in remaining if index not in group]
    return merged


def box_iou(box, boxes):
    """IoU of one (x0, y0, x1, y1) box with each of (N, 4) boxes."""
    boxes = np.asarray(boxes, np.float32).reshape(-1, 4)
    width = np.clip(np.minimum(box[2], boxes[:, 2]) - np.maximum(box[0], boxes[:, 0]), 0, None)
    height = np.clip(np.minimum(box[3], boxes[:, 3]) - np.maximum(box[1], boxes[:, 1]), 0, None)
    inter = width * height
    area = lambda b: (np.clip(b[..., 2] - b[..., 0], 0, None)
                      * np.clip(b[..., 3] - b[..., 1], 0, None))
    union = area(np.asarray(box)) + area(boxes) - inter
    return np.where(union > 0, inter / np.maximum(union, 1e-12), 0.0)


def letterbox(rgb):
    """(the 128 x 128 float32 input in [-1, 1], (scale x, scale y, left, top)): the image shrunk
    to fit, centred, the rest zero (mid-grey), as MediaPipe's keep_aspect_ratio. An image pixel
    x lands at ``x * scale_x + left`` in the input (likewise y)."""
    height, width = rgb.shape[:2]
    scale = INPUT_SIZE / max(height, width)
    # Area averaging, so that a large photo does not alias into the 128 px input.
    small = cv2.resize(rgb, (max(1, round(width * scale)), max(1, round(height * scale))),
                       interpolation=cv2.INTER_AREA)
    top = (INPUT_SIZE - small.shape[0]) // 2
    left = (INPUT_SIZE - small.shape[1]) // 2
    placed = np.zeros((INPUT_SIZE, INPUT_SIZE, 3), np.float32)
    placed[top:top + small.shape[0], left:left + small.shape[1]] = small / 127.5 - 1.0
    return placed, (small.shape[1] / width, small.shape[0] / height, left, top)


def detect(rgb, min_score=MIN_SCORE):
    """Faces in a uint8 ``H x W x 3`` RGB image, best score first: ``Detection``s in its pixels."""
    rgb = np.asarray(rgb)
    if rgb.dtype != np.uint8 or rgb.ndim != 3 or rgb.shape[2] != 3:
        raise ValueError(f"expected a uint8 HxWx3 RGB array, got {rgb.dtype} {rgb.shape}")
    tensor, (scale_x, scale_y, left, top) = letterbox(rgb)
    regressors, logits = _model()(tensor[None])
    boxes, keypoints, scores = decode(regressors, logits, min_score)
    scale, shift = np.array([scale_x, scale_y]), np.array([left, top], np.float64)
    to_image = lambda xy: (xy * INPUT_SIZE - shift) / scale  # [0, 1] of the input -> image pixels
    detections = []
    for box, points, score in weighted_nms(boxes, keypoints, scores):
        detections.append(Detection(
            box=np.concatenate([to_image(box[:2]), to_image(box[2:])]).astype(np.float32),
            keypoints=to_image(points).astype(np.float32), score=score))
    return detections


@functools.lru_cache(maxsize=None)
def _model():
    """The interpreter, loaded once per process: (1, 128, 128, 3) float in [-1, 1] ->
    ((896, 16) regressors, (896,) logits)."""
    return load_model(MODEL_PATH)


def load_model(path, sha256=MODEL_SHA256):
    """Checks ``path``'s sha256 and returns its runner (see ``_model``); ``DetectorModelError``
    naming the file when it cannot be read, is not the pinned file, or has other tensors."""
    path = pathlib.Path(path)
    data = face_landmarks.read_pinned_model(path, sha256, "face detector model",
                                            DetectorModelError)
    from ai_edge_litert.interpreter import Interpreter  # pylint: disable=import-outside-toplevel

    try:
        interpreter = Interpreter(model_content=data, num_threads=1)
        interpreter.allocate_tensors()
    except (ValueError, RuntimeError) as error:
        raise DetectorModelError(
            f"{path}: LiteRT cannot load the face detector: {error}") from error
    (image_input,) = interpreter.get_input_details()
    outputs = {detail["name"]: detail for detail in interpreter.get_output_details()}
    anchors = len(anchor_centres())
    if (list(image_input["shape"]) != [1, INPUT_SIZE, INPUT_SIZE, 3]
            or list(outputs.get("regressors", {}).get("shape", [])) != [1, anchors, 16]
            or list(outputs.get("classificators", {}).get("shape", [])) != [1, anchors, 1]):
        raise DetectorModelError(f"{path}: not the short-range face detector (input "
                                 f"{list(image_input['shape'])}, outputs "
                                 f"{ {name: list(d['shape']) for name, d in outputs.items()} })")

    def run(batch):
        interpreter.set_tensor(image_input["index"], batch.astype(np.float32))
        interpreter.invoke()
        return (interpreter.get_tensor(outputs["regressors"]["index"]).reshape(anchors, 16),
                interpreter.get_tensor(outputs["classificators"]["index"]).reshape(anchors))

    return run
