"""Face regions from the 468 face-mesh landmarks: the paste-back mask and the skin.

Index loops are MediaPipe's face mesh contours (``face_mesh_connections.py``: FACEMESH_FACE_OVAL,
_LIPS outer loop, _LEFT_EYE, _RIGHT_EYE, _LEFT_EYEBROW, _RIGHT_EYEBROW), each in order around its
region. "Left" and "right" are the person's.
"""

import cv2
import numpy as np

from animegan_face.data import face_finder

FACE_OVAL = (10, 338, 297, 332, 284, 251, 389, 356, 454, 323, 361, 288, 397, 365, 379, 378, 400,
             377, 152, 148, 176, 149, 150, 136, 172, 58, 132, 93, 234, 127, 162, 21, 54, 103, 67,
             109)
LIPS = (61, 146, 91, 181, 84, 17, 314, 405, 321, 375, 291, 409, 270, 269, 267, 0, 37, 39, 40, 185)
RIGHT_EYE = (33, 7, 163, 144, 145, 153, 154, 155, 133, 173, 157, 158, 159, 160, 161, 246)
LEFT_EYE = (263, 249, 390, 373, 374, 380, 381, 382, 362, 398, 384, 385, 386, 387, 388, 466)
RIGHT_EYEBROW = (46, 53, 52, 65, 55, 107, 66, 105, 63, 70)
LEFT_EYEBROW = (276, 283, 282, 295, 285, 336, 296, 334, 293, 300)
NOT_SKIN = (LIPS, RIGHT_EYE, LEFT_EYE, RIGHT_EYEBROW, LEFT_EYEBROW)


def _eye_distance(points):
    right = points[[33, 133]].mean(axis=0)
    left = points[[362, 263]].mean(axis=0)
    return float(np.linalg.norm(left - right))


def _fill(shape, polygons):
    mask = np.zeros(shape, np.uint8)
    cv2.fillPoly(mask, [np.round(np.asarray(p) * 16).astype(np.int32) for p in polygons], 255,
                 lineType=cv2.LINE_AA, shift=4)
    return mask


# The paste mask (``paste_mask``), in eye distances: the face oval widened by WIDEN all round and
# raised by HAIR at the top, so that it takes the hair round the face (a head mask), feathered
# over FEATHER. Chosen with face_paste's colour matching for selfie2anime_v3 on the seam bench
# (bench/face_alignment.py; docs/face_mode.md, "Colour across the mask's edge"): the face oval
# alone (0.12, 0.35, feather 0.5) left the model's hair the photo's and a seam above a square's
# on 6 of 43 photos, this mask on none.
WIDEN = 0.25
HAIR = 0.6
FEATHER = 0.4


def widened_oval(points, widen=WIDEN, hair=HAIR):
    """The face oval pushed outwards: each point moves ``widen`` eye distances away from the
    oval's centre, and the points above the eyes ``hair`` eye distances further up the face (the
    mesh stops short of the hair line, so a mask of the bare oval would cut through the forehead).
    ``points`` are the (468, 2) landmarks in any frame where the face is upright (an aligned crop);
    returns (36, 2)."""
    points = np.asarray(points, np.float64)
    oval = points[list(FACE_OVAL)]
    distance = _eye_distance(points)
    centre = oval.mean(axis=0)
    direction = oval - centre
    direction /= np.maximum(np.linalg.norm(direction, axis=1, keepdims=True), 1e-9)
    eyes_y = points[[33, 133, 362, 263]][:, 1].mean()
    above = np.clip((eyes_y - oval[:, 1]) / max(eyes_y - oval[:, 1].min(), 1e-9), 0, 1)
    return oval + widen * distance * direction - np.outer(hair * distance * above, [0.0, 1.0])


def paste_mask(points, size, feather=FEATHER, widen=WIDEN, hair=HAIR):
    """float32 (size, size) mask in [0, 1] for pasting an aligned crop back: 1 inside the widened
    face oval (``widened_oval``), falling to 0 over ``feather`` eye distances (a Gaussian blur of
    the filled oval, so the edge follows the head), and forced to 0 towards the crop's border so
    that the square never shows. ``points`` are the landmarks in crop pixels."""
    points = np.asarray(points, np.float64)
    distance = _eye_distance(points)
    mask = _fill((size, size), [widened_oval(points, widen, hair)]).astype(np.float32) / 255
    sigma = max(0.5, feather * distance / 2)
    # Shrink by one sigma first so that the blurred edge is centred on the oval's outer side.
    erode = int(round(sigma))
    if erode:
        mask = cv2.erode(mask, cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * erode + 1,) * 2))
    mask = cv2.GaussianBlur(mask, (0, 0), sigma, borderType=cv2.BORDER_CONSTANT)
    ramp = max(1.0, 2 * sigma)
    # 0 on the outermost pixels, where the warp back would otherwise show the square's edge.
    edge = np.clip(np.minimum(np.arange(size), np.arange(size)[::-1]) / ramp, 0, 1)
    # Clipped: a float32 blur of a filled region can exceed 1 by a rounding step.
    return np.clip(mask * np.outer(edge, edge), 0.0, 1.0).astype(np.float32)


def skin_mask(points, height, width, margin=0.08):
    """Boolean (height, width) mask of a face's skin: cheeks, forehead, nose and chin, i.e. the
    face oval without eyes, brows and lips. Each left-out part is grown by ``margin`` eye
    distances (lashes, brow hairs, lip line) and the oval shrunk by as much (its edge touches hair
    and background). ``points`` are the (468, 2) landmarks in pixels of that image. For the skin
    colour term: compare photo and output only where this is True."""
    points = np.asarray(points, np.float64)
    grow = max(1, int(round(margin * _eye_distance(points))))
    kernel = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * grow + 1,) * 2)
    oval = cv2.erode(_fill((height, width), [points[list(FACE_OVAL)]]), kernel)
    parts = cv2.dilate(_fill((height, width), [points[list(p)] for p in NOT_SKIN]), kernel)
    return (oval >= 128) & (parts < 128)


def skin_regions(points, height, width, margin=0.08):
    """The skin as the training loss reads it (``image_ops.skin_region_mask``): 16 numbers, four
    boxes (y0, x0, y1, x1) normalised by the image's ``height`` and ``width``: the face oval's
    bounding box shrunk by ``margin`` eye distances (the skin is the ellipse inscribed in it),
    then the boxes of the right eye and brow, the left eye and brow, and the lips, each grown by
    as much (as ``skin_mask`` grows them). Boxes, unlike a pixel mask, stay exact when the
    training pipeline crops and mirrors the photo, and fit in faces.json. ``points``: the (468, 2)
    landmarks in pixels of that image. Returns a list of 16 floats (rounded to 1e-6)."""
    points = np.asarray(points, np.float64)
    grow = margin * _eye_distance(points)

    def box(indices, by):
        part = points[list(indices)]
        (x0, y0), (x1, y1) = part.min(axis=0) - by, part.max(axis=0) + by
        return [y0 / height, x0 / width, y1 / height, x1 / width]

    boxes = (box(FACE_OVAL, -grow) + box(RIGHT_EYE + RIGHT_EYEBROW, grow)
             + box(LEFT_EYE + LEFT_EYEBROW, grow) + box(LIPS, grow))
    return [round(float(value), 6) for value in boxes]


def photo_skin_mask(rgb, upsample=1):
    """Boolean (H, W) skin of every face ``face_finder.find_faces`` finds in a uint8 RGB photo
    (the union of their ``skin_mask``), or None when it finds none. For a training photo as
    prepare.py writes it (centre crop, ``image_size``), this is the region the skin colour term
    should compare."""
    found = face_finder.find_faces(rgb, upsample=upsample)
    if not found:
        return None
    height, width = np.asarray(rgb).shape[:2]
    mask = np.zeros((height, width), bool)
    for face in found:
        mask |= skin_mask(face.landmarks.points, height, width)
    return mask
