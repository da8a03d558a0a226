"""Faces a face app can trust: dlib's HOG detections and BlazeFace's, each checked and described
by landmarks.

dlib's HOG detector (``faces.detect_faces``) finds frontal faces, but also takes some face-like
patterns for faces (the mission patch on the astronaut's suit), and misses heads turned or tilted
past about 35 degrees. MediaPipe's BlazeFace (``face_detector``) finds many of those; its boxes
that overlap none of dlib's checked faces are added. Each detection goes to the face landmark model
(``face_landmarks``), whose face-presence score rejects false faces, and whose points then align
the face (``face_alignment``) and shape its paste-back mask. Measured with
bench/face_detection.py on the labelled set of tests/face_labels.json and 200 held-out selfies.
"""

import dataclasses

import numpy as np

from animegan_face.data import face_detector, face_landmarks
from animegan_face.data.faces import FaceBox, detect_faces

# MediaPipe's own threshold for keeping a tracked face (min_tracking_confidence).
MIN_PRESENCE = 0.5


@dataclasses.dataclass(frozen=True)
class Face:
    """A checked face: the detector's box and the face's landmarks, both in image pixels."""

    box: FaceBox
    landmarks: face_landmarks.FaceLandmarks


def find_faces(rgb, upsample=1, min_presence=MIN_PRESENCE, max_side=1024, second_detector=True):
    """Faces in a uint8 RGB image: the dlib detections (``detect_faces(rgb, upsample, max_side)``,
    best score first), then with ``second_detector`` BlazeFace's detections that overlap none of
    the dlib faces kept (``overlaps``), each kept when its landmarks' presence is >=
    ``min_presence``. A BlazeFace box's first landmark pass is turned by the roll of its eye key
    points, so a turned head whose dlib box failed the check gets a second chance."""
    rgb = np.asarray(rgb)
    checked = [face for face in (_checked(rgb, box, 0.0, min_presence)
                                 for box in detect_faces(rgb, upsample=upsample, max_side=max_side))
               if face is not None]
    if second_detector:
        height, width = rgb.shape[:2]
        dlib_boxes = [face.box for face in checked]
        for detection in face_detector.detect(rgb):
            box = detection.face_box(height, width)
            if box is None or any(overlaps(box, other) for other in dlib_boxes):
                continue
            face = _checked(rgb, box, detection.roll_degrees(), min_presence)
            if face is not None:
                checked.append(face)
    return checked


def _checked(rgb, box, angle_degrees, min_presence):
    """The ``Face`` in ``box`` when its landmarks' presence is >= ``min_presence``, else None."""
    landmarks = face_landmarks.landmarks_for_box(rgb, box, angle_degrees)
    return Face(box=box, landmarks=landmarks) if landmarks.presence >= min_presence else None


def overlaps(box, other):
    """Whether two ``FaceBox`` are taken for one face: IoU above BlazeFace's own suppression
    threshold (0.3), or either box's centre inside the other."""
    def inside(a, b):
        x, y = (a.left + a.right) / 2, (a.top + a.bottom) / 2
        return b.left <= x < b.right and b.top <= y < b.bottom

    edges = lambda b: np.array([b.left, b.top, b.right, b.bottom], np.float32)
    iou = float(face_detector.box_iou(edges(box), edges(other))[0])
    return iou > face_detector.NMS_IOU or inside(box, other) or inside(other, box)
