"""Face detection with dlib's built-in HOG frontal face detector, and face boxes.

dlib is imported lazily, on the first detection, so that the rest of the package works without it.
Boxes are in pixels with half-open edges: a box covers ``rgb[top:bottom, left:right]``.
"""

import dataclasses
import functools

import cv2
import numpy as np

_DLIB_MISSING = (
    "dlib is needed for face detection; install it with `pip install dlib-bin==20.0.1.post1` "
    "(binary wheel) or `pip install dlib` (compiles for ~8 min)"
)


@dataclasses.dataclass(frozen=True)
class FaceBox:
    """A detected face: pixel edges ``rgb[top:bottom, left:right]`` and the detector's score.

    ``score`` is the detector's score. For ``detector="dlib"`` (``detect_faces``), dlib's HOG
    detection score: > 0 for a detection at the default threshold, about 0.1 for doubtful ones
    and 1..3 for clear frontal faces; for ``"blazeface"`` (``face_detector``), a probability in
    [0.5, 1].
    """

    left: int
    top: int
    right: int
    bottom: int
    score: float
    detector: str = "dlib"

    @property
    def width(self):
        return self.right - self.left

    @property
    def height(self):
        return self.bottom - self.top

    def normalized(self, height, width):
        """``(y0, x0, y1, x1)`` in [0, 1]: the pixel edges divided by the image size.

        ``y0 = top / height`` and ``y1 = bottom / height`` (likewise x), so the whole image is
        ``(0, 0, 1, 1)`` and a pixel row r is inside when its centre (r + 0.5) / height is in
        [y0, y1), the convention of ``image_ops.face_mask`` and ``pipeline.crop_box``.
        """
        return (
            _unit(self.top / height), _unit(self.left / width),
            _unit(self.bottom / height), _unit(self.right / width),
        )


def detect_faces(rgb, upsample=1, max_side=1024):
    """Frontal faces in a uint8 ``H x W x 3`` RGB image, best detection score first.

    dlib's HOG detector finds faces of about 80 x 80 pixels and larger; each ``upsample`` step
    doubles the image first (halving that minimum, at about 4x the time). Images whose longest side
    exceeds ``max_side`` are shrunk to ``max_side`` for detection and the boxes scaled back, which
    bounds the time per image.

    Returns:
        list of FaceBox in pixels of ``rgb``, clipped to the image; empty when none is found.
    """
    rgb = np.asarray(rgb)
    if rgb.dtype != np.uint8 or rgb.ndim != 3 or rgb.shape[2] != 3:
        raise ValueError(f"expected a uint8 HxWx3 RGB array, got {rgb.dtype} {rgb.shape}")
    height, width = rgb.shape[:2]
    scale = min(1.0, max_side / max(height, width))
    if scale < 1.0:
        size = (max(1, round(width * scale)), max(1, round(height * scale)))
        rgb = cv2.resize(rgb, size, interpolation=cv2.INTER_AREA)
    rectangles, scores, _ = _frontal_face_detector().run(
        np.ascontiguousarray(rgb), int(upsample), 0.0)
    boxes = []
    for rectangle, score in zip(rectangles, scores):
        # dlib's right/bottom are inclusive; +1 makes them half-open edges.
        box = FaceBox(
            left=max(0, int(np.floor(rectangle.left() / scale))),
            top=max(0, int(np.floor(rectangle.top() / scale))),
            right=min(width, int(np.ceil((rectangle.right() + 1) / scale))),
            bottom=min(height, int(np.ceil((rectangle.bottom() + 1) / scale))),
            score=float(score),
        )
        if box.width > 0 and box.height > 0:
            boxes.append(box)
    return sorted(boxes, key=lambda box: box.score, reverse=True)


def square_crop_box(box, height, width, margin):
    """The square face-crop window ``(y0, x0, side, side)`` in pixels of an ``height x width`` image.

    The square is centred on the face box and ``side = round((1 + 2 * margin) * max(w, h))`` of
    the box, so the face fills ``1 / (1 + 2 * margin)`` of it (margin 0.6 -> 45 %). It may reach
    past the image; the crop then pads by reflection (see ``cut_square``). Face mode keeps it
    only as the "square" face crop that aligned crops are measured against.
    """
    if margin < 0:
        raise ValueError(f"margin must be >= 0, got {margin}")
    if not (0 <= box.left < box.right <= width and 0 <= box.top < box.bottom <= height):
        raise ValueError(f"face box {box} is not inside a {height}x{width} image")
    side = max(1, round((1 + 2 * margin) * max(box.width, box.height)))
    centre_y = (box.top + box.bottom) / 2
    centre_x = (box.left + box.right) / 2
    return (round(centre_y - side / 2), round(centre_x - side / 2), side, side)


def cut_square(rgb, top, left, side):
    """``rgb[top:top+side, left:left+side]``, the part outside the image filled by reflection
    (``np.pad`` 'reflect'), for windows of ``square_crop_box`` that reach past the border."""
    height, width = rgb.shape[:2]
    inside = rgb[max(0, top):min(height, top + side), max(0, left):min(width, left + side)]
    padding = (
        (max(0, -top), max(0, top + side - height)),
        (max(0, -left), max(0, left + side - width)),
        (0, 0),
    )
    return np.pad(inside, padding, mode="reflect")


@functools.lru_cache(maxsize=None)
def _frontal_face_detector():
    # Building the detector takes ~0.1 s; once per process is enough.
    try:
        import dlib  # pylint: disable=import-outside-toplevel
    except ImportError as error:
        raise ImportError(_DLIB_MISSING) from error
    return dlib.get_frontal_face_detector()


def _unit(value):
    return float(min(1.0, max(0.0, value)))
