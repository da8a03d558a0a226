"""The labelled face set of tests/face_labels.json, made at run time, and the held-out selfies.

Each entry of the label file names a recipe ("make") and its arguments; ``labelled_images`` turns
them into (name, uint8 RGB, faces) from assets/astronaut.jpg, assets/test_photos/camera.png and
generated patterns. Used by
bench/face_detection.py (precision, recall, time) and tests/test_face_finder.py (no false face, no
face lost).
"""

import functools
import json
import pathlib

import cv2
import numpy as np

from animegan_face.data.image_files import read_image

REPO = pathlib.Path(__file__).resolve().parent.parent
LABELS = REPO / "tests" / "face_labels.json"
ASTRONAUT = REPO / "assets" / "astronaut.jpg"
# Not in assets/ itself, whose photos demo.py stylises.
CAMERA = REPO / "assets" / "test_photos" / "camera.png"
HOPPER = REPO / "assets" / "test_photos" / "grace_hopper.jpg"
# The region of the astronaut photo holding face and hair (removed for "faceless") and the one
# holding the mission patch (cut out for "patch"): x0, y0, x1, y1.
_HEAD = (140, 30, 300, 205)
_PATCH = (100, 310, 250, 450)


def read_labels(path=LABELS):
    return json.loads(pathlib.Path(path).read_text())


def labelled_images(astronaut, path=LABELS):
    """[(name, rgb, faces)] for every entry of the label file; ``astronaut`` is the decoded photo."""
    return [(entry["name"], make_image(astronaut, entry), entry["faces"])
            for entry in read_labels(path)["images"]]


def make_image(astronaut, entry):
    """One entry's image: the recipe ``make``, then ``scale``, ``rotate`` (degrees,
    counter-clockwise, on a canvas holding the whole turned image) and ``mirror`` if given."""
    make = entry["make"]
    rng = np.random.default_rng(entry.get("seed", 0))
    if make == "astronaut":
        rgb = astronaut.copy()
    elif make == "camera":
        rgb = camera().copy()
    elif make == "group":
        rgb = group(astronaut)
    elif make == "faceless":
        mask = np.zeros(astronaut.shape[:2], np.uint8)
        x0, y0, x1, y1 = _HEAD
        mask[y0:y1, x0:x1] = 255
        rgb = cv2.inpaint(astronaut, mask, 5, cv2.INPAINT_TELEA)
    elif make == "patch":
        x0, y0, x1, y1 = _PATCH
        rgb = astronaut[y0:y1, x0:x1].copy()
    elif make == "tiled":
        small = cv2.resize(astronaut, None, fx=0.75, fy=0.75, interpolation=cv2.INTER_AREA)
        rgb = np.concatenate([np.concatenate([small, small[:, ::-1]], 1)] * 2, 0)
    elif make == "noise":
        rgb = cv2.GaussianBlur(rng.integers(0, 256, (480, 640, 3), np.uint8), (0, 0),
                               entry.get("blur", 3))
        rgb = cv2.normalize(rgb, None, 0, 255, cv2.NORM_MINMAX)
    elif make == "blobs":
        rgb = np.full((480, 640, 3), 200, np.uint8)
        for _ in range(entry.get("count", 25)):
            centre = tuple(int(v) for v in rng.integers(0, (640, 480)))
            axes = tuple(int(v) for v in rng.integers(5, 60, 2))
            colour = tuple(int(v) for v in rng.integers(0, 256, 3))
            cv2.ellipse(rgb, centre, axes, float(rng.uniform(0, 180)), 0, 360, colour, -1)
        rgb = cv2.GaussianBlur(rgb, (0, 0), 1.5)
    elif make == "waves":
        y, x = np.mgrid[0:480, 0:640].astype(np.float32)
        channels = [np.sin(x / 17 + c) * np.cos(y / 23 - c) for c in (0.0, 1.0, 2.0)]
        rgb = np.clip(127.5 + 127.5 * np.stack(channels, -1), 0, 255).astype(np.uint8)
    elif make == "checkerboard":
        y, x = np.mgrid[0:480, 0:640]
        rgb = np.repeat(((((x // 40) + (y // 40)) % 2) * 255).astype(np.uint8)[..., None], 3, -1)
    else:
        raise ValueError(f"{entry.get('name')}: unknown recipe make={make!r}")
    if "scale" in entry:
        rgb = cv2.resize(rgb, None, fx=entry["scale"], fy=entry["scale"],
                         interpolation=cv2.INTER_AREA if entry["scale"] < 1 else cv2.INTER_CUBIC)
    if "rotate" in entry:
        rgb = rotate_whole(rgb, entry["rotate"])
    if entry.get("mirror"):
        rgb = rgb[:, ::-1]
    return np.ascontiguousarray(rgb)


def group(astronaut):
    """Three public-domain people on one 1,272 x 600 canvas, at three face sizes: Grace Hopper
    (assets/test_photos/grace_hopper.jpg, a U.S. Navy photo), the astronaut and the cameraman
    (found at full size, missed at this one: his part must come back as it was). No real group
    photo in the public domain ships in any package here; this composite stands in for one."""
    hopper = read_image(HOPPER)
    parts = [hopper, cv2.resize(astronaut, (420, 420), interpolation=cv2.INTER_AREA),
             cv2.resize(camera(), (340, 340), interpolation=cv2.INTER_AREA)]
    canvas = np.full((600, sum(part.shape[1] for part in parts), 3), 128, np.uint8)
    x = 0
    for part in parts:  # standing on the bottom edge, side by side
        canvas[600 - part.shape[0]:, x:x + part.shape[1]] = part
        x += part.shape[1]
    return canvas


@functools.lru_cache(maxsize=1)
def camera():
    """assets/test_photos/camera.png (scikit-image's grey "camera" photo, CC0) as uint8 RGB, the
    grey in all three channels."""
    grey = cv2.imread(str(CAMERA), cv2.IMREAD_GRAYSCALE)
    if grey is None:
        raise ValueError(f"{CAMERA}: cannot be read as an image")
    return np.repeat(grey[..., None], 3, axis=-1)


def rotate_whole(rgb, degrees, border=(128, 128, 128)):
    """``rgb`` turned by ``degrees`` (counter-clockwise) about its centre, on a canvas large enough
    to hold all of it, the corners filled with ``border``."""
    height, width = rgb.shape[:2]
    matrix = cv2.getRotationMatrix2D((width / 2, height / 2), degrees, 1.0)
    cos, sin = abs(matrix[0, 0]), abs(matrix[0, 1])
    size = (int(np.ceil(width * cos + height * sin)), int(np.ceil(width * sin + height * cos)))
    matrix[:, 2] += ((size[0] - width) / 2, (size[1] - height) / 2)
    return cv2.warpAffine(rgb, matrix, size, flags=cv2.INTER_CUBIC,
                          borderMode=cv2.BORDER_CONSTANT, borderValue=border)


def holdout_selfies(photo_dir, holdout_list):
    """Paths of the held-out selfies (one face each) that exist under ``photo_dir``."""
    names = [line.strip() for line in pathlib.Path(holdout_list).read_text().splitlines()
             if line.strip() and not line.startswith("#")]
    return [pathlib.Path(photo_dir) / name for name in names]
