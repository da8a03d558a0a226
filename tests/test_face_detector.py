"""The second face detector (BlazeFace): its anchors and decoding pinned by hand-computed values,
its detections on two public-domain photos, its boxes going through the landmark check in
find_faces, and a clear error for a bad model file."""

import dataclasses
import hashlib

import numpy as np
import pytest

from animegan_face.data import face_detector, face_finder, face_landmarks, faces, image_files
from bench import face_sets


@pytest.fixture(scope="module")
def astronaut():
    return image_files.read_image(face_sets.ASTRONAUT)


def test_anchor_grid():
    centres = face_detector.anchor_centres()
    assert centres.shape == (896, 2)  # 16 x 16 cells x 2 anchors + 8 x 8 cells x 6 anchors
    # Layer 0 (stride 8): 2 anchors per cell of a 16 x 16 grid, row by row.
    np.testing.assert_array_equal(centres[:4], [[1 / 32, 1 / 32]] * 2 + [[3 / 32, 1 / 32]] * 2)
    np.testing.assert_array_equal(centres[510:512], [[31 / 32, 31 / 32]] * 2)
    # Layers 1-3 (stride 16) share one 8 x 8 grid: 6 anchors per cell.
    np.testing.assert_array_equal(centres[512:518], [[1 / 16, 1 / 16]] * 6)
    np.testing.assert_array_equal(centres[512 + 6 * 9], [3 / 16, 3 / 16])  # row 1, column 1
    np.testing.assert_array_equal(centres[895], [15 / 16, 15 / 16])


def test_decode_golden_values():
    regressors = np.zeros((896, 16), np.float32)
    logits = np.full(896, -10.0, np.float32)
    # Anchor 0 (centre 1/32, 1/32): offset (12.8, -6.4) px, size 25.6 x 38.4 px of 128.
    regressors[0, :4] = [12.8, -6.4, 25.6, 38.4]
    regressors[0, 4:6] = [-6.4, 12.8]  # first key point
    logits[0] = 1.0
    # Anchor 566 (centre 3/16, 3/16): no offset, 64 px square; the better score.
    regressors[566, 2:4] = 64.0
    logits[566] = 3.0
    logits[7] = -0.01  # just under the 0.5 score: dropped
    boxes, keypoints, scores = face_detector.decode(regressors, logits)
    np.testing.assert_allclose(scores, [1 / (1 + np.exp(-3.0)), 1 / (1 + np.exp(-1.0))],
                               rtol=1e-6)
    np.testing.assert_allclose(boxes, [[-0.0625, -0.0625, 0.4375, 0.4375],  # 3/16 -+ 0.25
                                       [0.03125, -0.16875, 0.23125, 0.13125]], atol=1e-6)
    assert keypoints.shape == (2, 6, 2)
    np.testing.assert_allclose(keypoints[1, 0], [0.03125 - 0.05, 0.03125 + 0.1], atol=1e-6)
    np.testing.assert_allclose(keypoints[1, 1:], [[0.03125, 0.03125]] * 5, atol=1e-6)
    with pytest.raises(ValueError, match="896 anchors"):
        face_detector.decode(regressors[:100], logits[:100])


def test_weighted_nms_merges_overlaps_by_score():
    boxes = np.array([[0.0, 0.0, 1.0, 1.0], [0.1, 0.0, 1.1, 1.0], [2.0, 2.0, 3.0, 3.0]], np.float32)
    keypoints = np.zeros((3, 6, 2), np.float32)
    keypoints[1] = 1.0
    scores = np.array([0.9, 0.6, 0.55], np.float32)
    merged = face_detector.weighted_nms(boxes, keypoints, scores)
    assert len(merged) == 2
    box, points, score = merged[0]
    # IoU of the first two is 0.9 / 1.1 > 0.3: averaged with weights 0.9 and 0.6.
    np.testing.assert_allclose(box, [0.04, 0.0, 1.04, 1.0], atol=1e-6)
    np.testing.assert_allclose(points, np.full((6, 2), 0.4), atol=1e-6)
    assert score == pytest.approx(0.9)
    np.testing.assert_allclose(merged[1][0], boxes[2])


# Golden detections: the model run by LiteRT's XNNPACK float kernels. 2 px and 0.03 of score leave
# room for any x86-64 CPU's rounding (measured values given; they differ from the model's
# reference outputs by far less).
@pytest.mark.parametrize("photo, box, score, eyes", [
    ("astronaut", (177.8, 80.7, 272.2, 175.1), 0.923, [[203.8, 100.8], [248.0, 108.3]]),
    ("camera", (179.6, 121.3, 263.6, 205.3), 0.788, [[216.5, 149.3], [245.2, 151.4]]),
])
def test_detections_on_public_domain_photos(astronaut, photo, box, score, eyes):
    rgb = astronaut if photo == "astronaut" else face_sets.camera()
    (detection,) = face_detector.detect(rgb)
    np.testing.assert_allclose(detection.box, box, atol=2.0)
    assert detection.score == pytest.approx(score, abs=0.03)
    np.testing.assert_allclose(detection.keypoints[:2], eyes, atol=2.0)
    face_box = detection.face_box(*rgb.shape[:2])
    assert face_box.detector == "blazeface" and face_box.score == detection.score
    assert (face_box.left, face_box.top) == tuple(np.floor(detection.box[:2]).astype(int))


def test_letterbox_keeps_the_aspect_ratio():
    rgb = np.full((100, 200, 3), 255, np.uint8)
    tensor, (scale_x, scale_y, left, top) = face_detector.letterbox(rgb)
    assert (scale_x, scale_y, left, top) == (0.64, 0.64, 0, 32)
    assert tensor.shape == (128, 128, 3)
    assert (tensor[32:96] == 1.0).all() and (tensor[:32] == 0).all() and (tensor[96:] == 0).all()


def test_roll_from_eye_key_points():
    detection = face_detector.Detection(box=np.array([0, 0, 10, 10], np.float32),
                                        keypoints=np.array([[0, 10]] + [[10, 0]] * 5, np.float32),
                                        score=0.9)
    assert detection.roll_degrees() == pytest.approx(45.0)  # left eye higher: counter-clockwise
    assert detection.face_box(5, 5) == faces.FaceBox(0, 0, 5, 5, 0.9, "blazeface")
    outside = face_detector.Detection(np.array([-9, -9, -1, -1], np.float32),
                                      detection.keypoints, 0.9)
    assert outside.face_box(5, 5) is None


def test_camera_face_comes_from_the_second_detector():
    camera = face_sets.camera()
    assert faces.detect_faces(camera, upsample=1) == []  # why the second detector exists
    assert face_finder.find_faces(camera, second_detector=False) == []
    (face,) = face_finder.find_faces(camera)
    assert face.box.detector == "blazeface" and face.landmarks.presence > 0.9


def test_second_detector_boxes_go_through_the_check(astronaut, monkeypatch):
    # The astronaut turned by 35 degrees: dlib finds the face; BlazeFace finds it too (skipped as
    # the same face) and takes the mission patch for a face (score 0.55), which dlib does not
    # report there. The landmark check must reject that box.
    turned = face_sets.rotate_whole(astronaut, 35)
    checked = []
    landmarks_for_box = face_landmarks.landmarks_for_box

    def spy(rgb, box, angle_degrees=0.0):
        result = landmarks_for_box(rgb, box, angle_degrees)
        checked.append((box, result.presence))
        return result

    monkeypatch.setattr(face_landmarks, "landmarks_for_box", spy)
    found = face_finder.find_faces(turned, upsample=1)
    assert [face.box.detector for face in found] == ["dlib"]  # the face, once
    assert len(face_detector.detect(turned)) == 2
    (patch, presence), = [(box, p) for box, p in checked if box.detector == "blazeface"]
    assert patch.top > found[0].box.bottom  # the patch, below the face...
    assert presence < face_finder.MIN_PRESENCE  # ...went to the check and failed it


def test_blazeface_box_on_a_rejected_dlib_box_is_checked(astronaut, monkeypatch):
    # A turned head whose dlib box fails the landmark check (here forced: presence 0 for every
    # dlib box) still gets BlazeFace's box, on the same face, checked with its eye roll.
    landmarks_for_box = face_landmarks.landmarks_for_box

    def reject_dlib(rgb, box, angle_degrees=0.0):
        result = landmarks_for_box(rgb, box, angle_degrees)
        return result if box.detector != "dlib" else dataclasses.replace(result, presence=0.0)

    monkeypatch.setattr(face_landmarks, "landmarks_for_box", reject_dlib)
    (face,) = face_finder.find_faces(astronaut, upsample=1)
    assert face.box.detector == "blazeface" and face.box.top < 100  # the face, not the patch
    assert face_finder.find_faces(astronaut, upsample=1, second_detector=False) == []


def test_overlap_rule():
    box = faces.FaceBox(100, 100, 200, 200, 1.0)
    assert face_finder.overlaps(box, faces.FaceBox(110, 90, 210, 190, 0.9, "blazeface"))  # IoU 0.68
    # IoU 0.16, but this box's centre lies inside the other's.
    assert face_finder.overlaps(box, faces.FaceBox(150, 150, 400, 400, 0.9, "blazeface"))
    assert not face_finder.overlaps(box, faces.FaceBox(190, 190, 290, 290, 0.9, "blazeface"))


def test_bad_model_file_is_refused(tmp_path):
    junk = tmp_path / "face_detection_short_range.tflite"
    junk.write_bytes(b"not a model")
    with pytest.raises(face_detector.DetectorModelError,
                       match=f"{junk}: sha256 .* not the pinned"):
        face_detector.load_model(junk)
    # A file that passes the hash but is no TFLite model (as if the pin were edited).
    with pytest.raises(face_detector.DetectorModelError, match=f"{junk}: LiteRT cannot load"):
        face_detector.load_model(junk, sha256=hashlib.sha256(b"not a model").hexdigest())
    # The landmark model is a valid TFLite file, but not the detector.
    landmark = face_landmarks.MODEL_PATH
    with pytest.raises(face_detector.DetectorModelError, match="not the short-range face detector"):
        face_detector.load_model(landmark,
                                 sha256=hashlib.sha256(landmark.read_bytes()).hexdigest())
    with pytest.raises(face_detector.DetectorModelError, match="cannot read"):
        face_detector.load_model(tmp_path / "missing.tflite")


def test_bad_input():
    with pytest.raises(ValueError, match="HxWx3"):
        face_detector.detect(np.zeros((10, 10), np.uint8))
