"""Faces a face app can trust: dlib's HOG detections, each checked and described by landmarks.

dlib's HOG detector (``faces.detect_faces``) finds frontal faces, but also takes some face-like
patterns for faces (the mission patch on the astronaut's suit). Each detection here goes to the
face landmark model (``face_landmarks``), whose face-presence score rejects those, and whose
points then align the face (``face_alignment``) and shape its paste-back mask. Measured with
bench/face_detection.py on the labelled set of tests/face_labels.json and 200 held-out selfies.
"""

import dataclasses

import numpy as np

from animegan_face.data import face_landmarks
from animegan_face.data.faces import FaceBox, detect_faces

# MediaPipe's own threshold for keeping a tracked face (min_tracking_confidence).
MIN_PRESENCE = 0.5


@dataclasses.dataclass(frozen=True)
class Face:
    """A checked face: the detector's box and the face's landmarks, both in image pixels."""

    box: FaceBox
    landmarks: face_landmarks.FaceLandmarks


def find_faces(rgb, upsample=1, min_presence=MIN_PRESENCE, max_side=1024):
    """Faces in a uint8 RGB image, best detector score first: the dlib detections
    (``detect_faces(rgb, upsample, max_side)``) whose landmarks' presence is >= ``min_presence``."""
    rgb = np.asarray(rgb)
    checked = []
    for box in detect_faces(rgb, upsample=upsample, max_side=max_side):
        landmarks = face_landmarks.landmarks_for_box(rgb, box)
        if landmarks.presence >= min_presence:
            checked.append(Face(box=box, landmarks=landmarks))
    return checked
