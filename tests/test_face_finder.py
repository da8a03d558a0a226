"""Trusted detections: the labelled set of tests/face_labels.json (made here from the astronaut,
camera and Grace Hopper photos and generated patterns) gives no false face, and every face but
the known misses."""

import numpy as np
import pytest

from animegan_face.data import face_finder, faces, image_files
from bench import face_sets


@pytest.fixture(scope="module")
def astronaut():
    return image_files.read_image(face_sets.ASTRONAUT)


def test_mission_patch_is_rejected_and_the_face_kept(astronaut):
    raw = faces.detect_faces(astronaut, upsample=1)
    assert len(raw) == 2  # the face and the patch: why the check exists
    found = face_finder.find_faces(astronaut, upsample=1)
    assert len(found) == 1
    assert found[0].box == raw[0] and found[0].landmarks.presence > 0.99
    assert found[0].box.top < 200  # the face, not the patch at y 333..426


# Faces neither detector finds (bench/face_detection.py): the astronaut turned clockwise by 60
# degrees (BlazeFace finds it, but its eye key points put the roll at -9 degrees instead of
# about -70, and the landmark check's first pass fails) and the cameraman turned by 20 degrees
# (BlazeFace finds nothing), and the cameraman shrunk to two thirds beside Grace Hopper and the
# astronaut (both found). A change that finds them should remove them from here.
KNOWN_MISSES = {"astronaut_rot-60": (0, 1), "camera_rot20": (0, 1), "three_people": (2, 3)}


@pytest.mark.slow  # 29 images, about 25 s
def test_labelled_set_exact_counts(astronaut):
    labels = face_sets.read_labels()
    assert len(labels["images"]) >= 29 and {0, 1} <= {e["faces"] for e in labels["images"]}
    wrong = {}
    for name, rgb, count in face_sets.labelled_images(astronaut):
        found = len(face_finder.find_faces(rgb, upsample=1))
        if found != count:
            wrong[name] = (found, count)
    assert wrong == KNOWN_MISSES, f"(found, labelled): {wrong}"


def test_recipes_make_what_they_say(astronaut):
    mirrored = face_sets.make_image(astronaut, {"name": "x", "make": "astronaut", "mirror": True})
    np.testing.assert_array_equal(mirrored, astronaut[:, ::-1])
    turned = face_sets.make_image(astronaut, {"name": "x", "make": "astronaut", "rotate": 45})
    assert turned.shape == (725, 725, 3)  # 512 * sqrt(2), rounded up: nothing cut off
    with pytest.raises(ValueError, match="unknown recipe"):
        face_sets.make_image(astronaut, {"name": "y", "make": "nothing"})


def test_faceless_and_bad_input():
    assert face_finder.find_faces(np.full((100, 100, 3), 90, np.uint8)) == []
    with pytest.raises(ValueError, match="HxWx3"):
        face_finder.find_faces(np.zeros((10, 10), np.uint8))
