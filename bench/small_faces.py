"""The smallest face face mode finds at each --upsample, and what it costs.

    python bench/small_faces.py

Shrinks the astronaut photo (face 88 px wide in dlib's box) step by step (x0.92 each), each time
in the top-left corner of a grey canvas of the photo's full 512 x 512 size (as one small face in a
group photo: BlazeFace sees the whole image at 128 px, so a shrunk photo alone, its face always
the same fraction of it, would be found at any size), and reports, for each dlib upsampling, the
smallest face width (dlib's box at full size times the scale) that is still found by face mode's
detector (face_finder.find_faces: dlib, BlazeFace and the landmark check) at that scale and at
every larger one, the same for dlib alone, and the detection time on the full 512 x 512 photo. Faces smaller than the model's crop are upscaled into it: a face of W px gives a
crop of about 1.5 W px (margin 0.25), so at 256 px crops a face under ~170 px wide is upscaled and
the stylised face has no more detail than the photo had.
"""

import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

import cv2  # noqa: E402
import numpy as np  # noqa: E402
from absl import app, flags  # noqa: E402

from animegan_face.data import face_finder, faces  # noqa: E402
from animegan_face.data.image_files import read_image  # noqa: E402
from bench import face_sets  # noqa: E402

flags.DEFINE_list("upsample", ["0", "1", "2"], "dlib upsamplings to try.")
flags.DEFINE_float("step", 0.92, "Scale factor between sizes tried.")
flags.DEFINE_integer("smallest", 8, "Stop below this face width (px).")
FLAGS = flags.FLAGS
FACE_WIDTH = 88  # dlib's box on the astronaut at full size (tests/face_labels.json)


def smallest_found(photo, count):
    """Smallest face width (px) with ``count(image) >= 1`` there and at every larger scale."""
    scale, smallest = 1.0, None
    while FACE_WIDTH * scale >= FLAGS.smallest:
        size = max(16, round(photo.shape[1] * scale))
        image = np.full_like(photo, 128)
        image[:size, :size] = cv2.resize(photo, (size, size), interpolation=cv2.INTER_AREA)
        if count(image) < 1:
            break
        smallest = FACE_WIDTH * size / photo.shape[1]
        scale *= FLAGS.step
    return smallest


def main(argv):
    del argv
    photo = read_image(face_sets.ASTRONAUT)
    face_finder.find_faces(photo)  # load the landmark model before timing
    print("| upsample | smallest face, face mode (px) | smallest face, dlib alone (px) | "
          "detection on 512 x 512 (ms) |")
    print("| --- | --- | --- | --- |")
    for upsample in (int(value) for value in FLAGS.upsample):
        checked = smallest_found(photo, lambda image: len(face_finder.find_faces(image, upsample)))
        raw = smallest_found(photo, lambda image: len(faces.detect_faces(image, upsample)))
        started = time.perf_counter()
        for _ in range(3):
            face_finder.find_faces(photo, upsample)
        elapsed = (time.perf_counter() - started) / 3 * 1000
        print(f"| {upsample} | {checked:.0f} | {raw:.0f} | {elapsed:.0f} |", flush=True)


if __name__ == "__main__":
    app.run(main)
