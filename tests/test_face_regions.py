"""Face regions from landmarks: the paste-back mask and the skin mask, on the astronaut."""

import cv2
import numpy as np
import pytest

from animegan_face.data import face_alignment, face_finder, face_regions, image_files
from animegan_face.loss import image_ops
from bench import face_sets


@pytest.fixture(scope="module")
def face():
    astronaut = image_files.read_image(face_sets.ASTRONAUT)
    return face_finder.find_faces(astronaut)[0]


def test_index_loops_are_distinct_mesh_points():
    for loop in (face_regions.FACE_OVAL,) + face_regions.NOT_SKIN:
        assert len(set(loop)) == len(loop) and all(0 <= index < 468 for index in loop)


def test_skin_is_cheeks_forehead_nose_not_eyes_brows_lips(face):
    points = face.landmarks.points
    skin = face_regions.skin_mask(points, 512, 512)
    assert skin.dtype == bool and skin.shape == (512, 512)

    def at(index):
        x, y = np.round(points[index]).astype(int)
        return skin[y, x]

    # Mesh points: 50 / 280 cheeks, 151 forehead, 6 nose bridge, 4 nose tip; 13 / 14 lips,
    # 159 / 386 upper eyelids, 105 / 334 brows, 468-point oval edge 234 (outside after shrinking).
    assert all(at(index) for index in (50, 280, 151, 6, 4))
    assert not any(at(index) for index in (13, 14, 159, 386, 105, 334, 234))
    assert not skin[:60].any() and not skin[250:].any()  # nothing above the hair or on the suit
    # 5,201 pixels measured (a face 88 px wide); the bounds leave room for any CPU's rounding in
    # the model's points (a pixel of the oval is about 230 pixels of area).
    assert 4500 < skin.sum() < 5900


def test_skin_regions_as_the_loss_reads_them_leave_out_eyes_brows_and_lips(face):
    points = face.landmarks.points
    regions = np.array([face_regions.skin_regions(points, 512, 512)], np.float32)
    assert regions.shape == (1, 16)
    mask = np.asarray(image_ops.skin_region_mask(regions, 512, 512))[0, ..., 0] > 0.5

    def at(index):
        x, y = np.round(points[index]).astype(int)
        return mask[y, x]

    # The mesh points of test_skin_is_cheeks_forehead_nose_not_eyes_brows_lips.
    assert all(at(index) for index in (50, 280, 151, 6, 4))
    assert not any(at(index) for index in (13, 14, 159, 386, 105, 334, 234))
    assert not mask[:60].any() and not mask[250:].any()
    # Mostly the same pixels as the exact skin mask (boxes for the left-out parts and an
    # ellipse for the oval are coarser): measured 0.74 of their union in common (4,031 and
    # 5,201 pixels); the bound leaves room for any CPU's rounding in the model's points.
    exact = face_regions.skin_mask(points, 512, 512)
    assert (mask & exact).sum() / (mask | exact).sum() > 0.65


def test_paste_mask_follows_the_face_and_hides_the_square(face):
    size = 256
    matrix = face_alignment.alignment_matrix(face.landmarks, size)
    points = face.landmarks.points.astype(np.float64) @ matrix[:, :2].T + matrix[:, 2]
    mask = face_regions.paste_mask(points, size)
    assert mask.dtype == np.float32 and mask.shape == (size, size)
    assert mask.min() >= 0 and mask.max() <= 1
    nose = np.round(points[4]).astype(int)
    assert mask[nose[1], nose[0]] == pytest.approx(1.0, abs=1e-3)
    # Zero on the whole border of the crop: the square cannot show.
    assert max(mask[0].max(), mask[-1].max(), mask[:, 0].max(), mask[:, -1].max()) < 1e-3
    # Below the chin (mesh point 152) it fades out within 0.6 eye distances.
    chin = np.round(points[152]).astype(int)
    eye_distance = size / face_alignment.crop_side_in_eye_distances(face_alignment.DEFAULT_MARGIN)
    assert mask[min(size - 1, chin[1] + int(0.6 * eye_distance)), chin[0]] < 0.05
    # The hair is taken (a head mask): 0.2 eye distances above the top of the mesh (point 10)
    # and at the oval's point beside the right eye (127), the mask is mostly on (measured 0.58
    # and 0.55; the face oval alone, widened 0.12 and raised 0.35, gave 0.36 and 0.28; the
    # crop's top border, 0.46 eye distances above point 10, ends the mask there).
    brow_top = np.round(points[10]).astype(int)
    assert mask[brow_top[1] - int(0.2 * eye_distance), brow_top[0]] > 0.5
    temple = np.round(points[127]).astype(int)
    assert mask[temple[1], temple[0]] > 0.45


def test_paste_mask_feather_falls_monotonically_from_the_face_outwards(face):
    size = 256
    matrix = face_alignment.alignment_matrix(face.landmarks, size)
    points = face.landmarks.points.astype(np.float64) @ matrix[:, :2].T + matrix[:, 2]
    mask = face_regions.paste_mask(points, size)
    nose = points[4]
    # 64 rays from the nose tip to beyond the crop, sampled every half pixel (bilinear): the
    # mask never rises on the way out (a blurred oval has one peak), then reaches about 0.
    # 1e-3: bilinear sampling between pixels of a float32 blur.
    for angle in np.linspace(0, 2 * np.pi, 64, endpoint=False):
        steps = np.arange(0, 1.5 * size, 0.5)
        x = nose[0] + steps * np.cos(angle)
        y = nose[1] + steps * np.sin(angle)
        inside = (x >= 0) & (x <= size - 1) & (y >= 0) & (y <= size - 1)
        values = cv2.remap(mask, x[inside].astype(np.float32)[None],
                           y[inside].astype(np.float32)[None], cv2.INTER_LINEAR)[0]
        assert (np.diff(values) <= 1e-3).all()
        # The last sample lies within a pixel of the crop's border (0 there; measured at most
        # 0.0045 half a pixel in, above the hair line).
        assert values[-1] < 0.01


def test_photo_skin_mask_unites_the_faces_and_is_none_without_one(face):
    astronaut = image_files.read_image(face_sets.ASTRONAUT)
    one = face_regions.photo_skin_mask(astronaut)
    np.testing.assert_array_equal(one, face_regions.skin_mask(face.landmarks.points, 512, 512))
    group = face_sets.make_image(astronaut, {"make": "tiled"})  # 4 faces, 2 of them mirrored
    four = face_regions.photo_skin_mask(group)
    assert four.shape == group.shape[:2]
    # Each quarter holds one face's skin, about (0.75 ** 2) times the full-size face's.
    for quarter in (four[:384, :384], four[:384, 384:], four[384:, :384], four[384:, 384:]):
        assert 0.7 < quarter.sum() / (0.5625 * one.sum()) < 1.3
    assert face_regions.photo_skin_mask(np.full((64, 64, 3), 200, np.uint8)) is None
