"""A small sample set made on the spot, so the demo trains with no download.

Photos: random crops, flips and colour shifts of the one public-domain face photo the project
ships (assets/astronaut.jpg). Anime: procedurally drawn cel-shaded faces (flat colours, black
outlines, big eyes), the visual traits the discriminator learns to look for. Neither is a
substitute for a real dataset; they exist to run the whole pipeline end to end.
"""

import pathlib

import cv2
import numpy as np

from animegan_face.data.image_files import read_image, write_image

ASTRONAUT = pathlib.Path(__file__).resolve().parents[2] / "assets" / "astronaut.jpg"
# The astronaut's face in the 512 x 512 photo (dlib HOG box, upsample 0), as (left, top, right, bottom).
_ASTRONAUT_FACE = (179, 83, 266, 170)


def demo_photos(count, size=256, seed=0):
    """`count` uint8 RGB size x size crops of the astronaut photo, each containing the face whole."""
    rng = np.random.default_rng(seed)
    photo = read_image(ASTRONAUT)
    left, top, right, bottom = _ASTRONAUT_FACE
    photos = []
    for _ in range(count):
        side = int(rng.uniform(220, 380))
        x0 = int(rng.uniform(max(0, right - side), min(left, 512 - side)))
        y0 = int(rng.uniform(max(0, bottom - side), min(top, 512 - side)))
        crop = photo[y0:y0 + side, x0:x0 + side]
        if rng.random() < 0.5:
            crop = crop[:, ::-1]
        shifted = crop.astype(np.float32) * rng.uniform(0.85, 1.15, 3) + rng.uniform(-15, 15)
        crop = np.clip(shifted, 0, 255).astype(np.uint8)
        photos.append(cv2.resize(crop, (size, size), interpolation=cv2.INTER_AREA))
    return photos


def write_demo_photos(folder, count, size=256, seed=0):
    folder = pathlib.Path(folder)
    for index, photo in enumerate(demo_photos(count, size, seed)):
        write_image(folder / f"photo_{index:03d}.jpg", photo)


def _color(rng, low=40, high=255):
    return tuple(int(c) for c in rng.integers(low, high, 3))


def draw_anime_face(rng, size=256):
    """One procedurally drawn anime-style face, uint8 RGB (size, size, 3)."""
    s = size / 256.0
    image = np.full((size, size, 3), _color(rng, 150), np.uint8)
    centre = (int(size / 2 + rng.uniform(-15, 15) * s), int(size * 0.55))
    hair = _color(rng, 20, 230)
    cv2.ellipse(image, centre, (int(105 * s), int(115 * s)), 0, 0, 360, hair, -1)
    skin = (int(rng.uniform(240, 255)), int(rng.uniform(210, 230)), int(rng.uniform(190, 210)))
    face_axes = (int(72 * s), int(88 * s))
    cv2.ellipse(image, centre, face_axes, 0, 0, 360, skin, -1)
    cv2.ellipse(image, centre, face_axes, 0, 0, 360, (0, 0, 0), max(1, int(2 * s)))
    iris = _color(rng, 30, 200)
    for side in (-1, 1):
        eye = (centre[0] + side * int(30 * s), centre[1] - int(5 * s))
        cv2.ellipse(image, eye, (int(17 * s), int(22 * s)), 0, 0, 360, (255, 255, 255), -1)
        cv2.ellipse(image, eye, (int(13 * s), int(19 * s)), 0, 0, 360, iris, -1)
        cv2.circle(image, eye, int(7 * s), (10, 10, 10), -1)
        cv2.circle(image, (eye[0] - int(5 * s), eye[1] - int(8 * s)), int(4 * s), (255, 255, 255), -1)
        cv2.ellipse(image, eye, (int(17 * s), int(22 * s)), 0, 180, 360, (0, 0, 0), max(1, int(3 * s)))
    mouth = (centre[0], centre[1] + int(45 * s))
    cv2.ellipse(image, mouth, (int(10 * s), int(5 * s)), 0, 0, 180, (160, 40, 60), max(1, int(2 * s)))
    fringe = np.array([[centre[0] - 80 * s, centre[1] - 95 * s], [centre[0] + 80 * s, centre[1] - 95 * s],
                       [centre[0] + 60 * s, centre[1] - 35 * s], [centre[0] + 20 * s, centre[1] - 60 * s],
                       [centre[0] - 15 * s, centre[1] - 30 * s], [centre[0] - 45 * s, centre[1] - 60 * s],
                       [centre[0] - 75 * s, centre[1] - 25 * s]], np.int32)
    cv2.fillPoly(image, [fringe], hair)
    cv2.polylines(image, [fringe], True, (0, 0, 0), max(1, int(2 * s)))
    return image


def write_demo_anime(folder, count, size=256, seed=1):
    rng = np.random.default_rng(seed)
    folder = pathlib.Path(folder)
    for index in range(count):
        write_image(folder / f"anime_{index:03d}.jpg", draw_anime_face(rng, size))
