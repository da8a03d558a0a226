"""One face through a stylizer and back: aligned warp round trip and the face-shaped mask."""

import cv2
import numpy as np
import pytest

from animegan_face.data import face_alignment, face_finder, image_files
from animegan_face.deployment import face_paste
from bench import face_sets


@pytest.fixture(scope="module")
def photo():
    astronaut = image_files.read_image(face_sets.ASTRONAUT)
    return astronaut, face_finder.find_faces(astronaut)[0]


def test_identity_stylizer_leaves_the_photo(photo):
    astronaut, face = photo
    canvas = astronaut.copy()
    face_paste.stylize_aligned(lambda crop: crop, astronaut, canvas, face.landmarks, 256)
    # Warped there and back (bilinear, then bicubic at 1.9x): measured 1.0 mean, the rest
    # of the image untouched.
    assert np.abs(canvas.astype(int) - astronaut).mean() < 2
    np.testing.assert_array_equal(canvas[300:], astronaut[300:])


def _checkered(crop):
    """A stylizer that only adds fine detail: +-60 in a 1-pixel checkerboard (no colour cast,
    which match_edge_colour would take out at the mask's edge)."""
    y, x = np.indices(crop.shape[:2])
    sign = np.where((x + y) % 2, 60, -60)[..., None]
    return np.clip(crop.astype(int) + sign, 0, 255).astype(np.uint8)


def test_pasted_face_follows_the_oval_not_a_square(photo):
    astronaut, face = photo
    canvas = astronaut.copy()
    face_paste.stylize_aligned(_checkered, astronaut, canvas, face.landmarks, 128)
    # The checkerboard at mask m changes a pixel by about 60 m per channel: over 10 in
    # R + G + B where the mask is above about 0.06.
    changed = np.abs(canvas.astype(int) - astronaut).sum(axis=2) > 10
    x, y = np.round(face.landmarks.points[4]).astype(int)  # nose tip
    assert changed[y - 1:y + 2, x - 1:x + 2].all()
    # The changed region's corners are rounded: the bounding box of the change is far from full.
    rows, columns = np.nonzero(changed)
    box_area = (rows.max() - rows.min() + 1) * (columns.max() - columns.min() + 1)
    assert changed.sum() < 0.85 * box_area  # an ellipse fills pi / 4 = 0.79 of its box
    assert not (canvas[330:] != astronaut[330:]).any()  # the mission patch is not a face


def test_colour_cast_is_taken_out_at_the_edge_not_in_the_core(photo):
    astronaut, face = photo
    canvas = astronaut.copy()
    red = lambda crop: np.broadcast_to(np.array([255, 0, 0], np.uint8), crop.shape).copy()
    face_paste.stylize_aligned(red, astronaut, canvas, face.landmarks, 256)
    matrix = face_alignment.alignment_matrix(face.landmarks, 256)
    mask = face_paste.aligned_paste_mask(face.landmarks, matrix, 256)
    # Where the mask is 0.5 (half stylised, half photo) the stylised side was brought to the
    # photo's colour: the pasted pixel stays near the photo's, instead of halfway to red.
    inverse = cv2.invertAffineTransform(matrix)
    back = cv2.warpAffine(mask, inverse, (512, 512), flags=cv2.INTER_LINEAR)
    half = (back > 0.45) & (back < 0.55)
    step = np.abs(canvas.astype(int) - astronaut)[half].sum(axis=1)
    # Measured median R + G + B step: 172 without the matching (half of red against skin, hair
    # or grey), 35 with it (half the photo's own detail, which a blur leaves out).
    assert np.median(step) < 80
    # The core, where the mask is 1 and deepest, keeps much of the stylised colour (measured
    # (227, 83, 72) there; the photo there is (224, 197, 170)).
    core = np.unravel_index(np.argmax(cv2.distanceTransform(
        (back >= 0.99).astype(np.uint8), cv2.DIST_L2, 5)), back.shape)
    assert canvas[core][0] > 200 and canvas[core][1] < 120


def _disc(size, radius, feather):
    """A float mask: 1 within radius - feather of the centre, falling linearly to 0 at radius."""
    y, x = np.indices((size, size))
    r = np.hypot(y - size / 2 + 0.5, x - size / 2 + 0.5)
    return np.clip((radius - r) / feather, 0, 1).astype(np.float32), r


def test_match_edge_colour_golden_values():
    mask, r = _disc(96, 40, 12)
    photo = np.broadcast_to(np.array([100, 120, 140], np.uint8), (96, 96, 3))
    stylised = np.broadcast_to(np.array([200, 60, 40], np.uint8), (96, 96, 3))
    out = face_paste.match_edge_colour(photo, stylised, mask, eye_distance=20)
    assert out.shape == (96, 96, 3) and out.dtype == np.uint8
    # In the band (and outside it) the offset of uniform images is exactly photo - stylised: a
    # ratio of two blurs of the same band; 1 grey level for float32 rounding.
    band = (mask > 0.01) & (mask < 0.99)
    assert np.abs(out[band].astype(int) - [100, 120, 140]).max() <= 1
    # At the centre, 40 - 12 - 0.12 ~ 28 px into the core, reach 0.3 x 20 = 6 px:
    # fade exp(-0.5 (28 / 6)^2) < 1e-4, the stylised colour exactly.
    np.testing.assert_array_equal(out[48, 48], [200, 60, 40])
    # Monotone from the core to the edge: each step outwards moves the red channel down (to
    # the photo's 100); 1 grey level of rounding allowed.
    ray = out[48, 48:96, 0].astype(int)
    assert (np.diff(ray) <= 1).all() and ray[0] == 200 and ray[-1] == 100


def test_match_edge_colour_keeps_detail_and_leaves_agreement_alone():
    rng = np.random.default_rng(0)
    mask, _ = _disc(96, 40, 12)
    photo = rng.integers(0, 256, (96, 96, 3), dtype=np.uint8)
    # Photo and stylised agree: nothing to match, not a pixel changes.
    np.testing.assert_array_equal(face_paste.match_edge_colour(photo, photo, mask, 20), photo)
    # A mask without a soft band (all 0, or all 1): the stylised crop as it is.
    stylised = rng.integers(0, 256, (96, 96, 3), dtype=np.uint8)
    for flat in (np.zeros_like(mask), np.ones_like(mask)):
        np.testing.assert_array_equal(face_paste.match_edge_colour(photo, stylised, flat, 20),
                                      stylised)
    # Detail finer than the smoothing (a 1-pixel checkerboard on a grey photo) stays: the blur
    # (sigma 0.25 x 20 = 5 px) averages it to under a grey level inside the band.
    grey = np.full((96, 96, 3), 128, np.uint8)
    checker = _checkered(grey)
    out = face_paste.match_edge_colour(grey, checker, mask, 20)
    inside_band = (mask > 0.2) & (mask < 0.8)
    assert np.abs(out[inside_band].astype(int) - checker[inside_band]).max() <= 2


def test_paste_changes_nothing_where_the_mask_is_zero():
    canvas = np.full((80, 100, 3), 50, np.uint8)
    crop = np.full((32, 32, 3), 250, np.uint8)
    mask = np.zeros((32, 32), np.float32)
    mask[12:20, 12:20] = 1.0
    matrix = np.array([[1.0, 0.0, -30.0], [0.0, 1.0, -20.0]])  # crop = canvas[20:52, 30:62]
    face_paste.paste_warped(canvas, crop, mask, matrix)
    changed = np.nonzero((canvas != 50).any(axis=2))
    # The mask's square, plus the one-pixel fringe of its bilinear warp back.
    assert changed[0].min() >= 31 and changed[0].max() <= 40
    assert changed[1].min() >= 41 and changed[1].max() <= 50
    assert (canvas[33:39, 43:49] == 250).all()


def test_square_paste_is_the_earlier_square(photo):
    astronaut, face = photo
    canvas = astronaut.copy()
    red = lambda crop: np.broadcast_to(np.array([255, 0, 0], np.uint8), crop.shape).copy()
    face_paste.stylize_square(red, astronaut, canvas, face.box, 64, margin=0.6, feather=0.15)
    changed = np.abs(canvas.astype(int) - astronaut).sum(axis=2) > 0
    rows, columns = np.nonzero(changed)
    box_area = (rows.max() - rows.min() + 1) * (columns.max() - columns.min() + 1)
    assert changed.sum() > 0.95 * box_area  # a square


def test_square_mask_is_one_inside_and_fades_out():
    mask = face_paste.square_mask(40, 0.15)
    assert mask[20, 20] == 1.0 and mask[0, 0] < 0.01 and 0 < mask[20, 2] < 1


def test_match_edge_colour_fine_band_follows_a_sharp_edge_in_the_photo():
    # A photo with a sharp dark | light edge through the mask's band, a flat stylised grey: the
    # coarse blur (sigma 5 px) smears the edge's two sides into each other over about 10 px; the
    # fine residual (sigma 2 px) puts most of it back. Measured mean error within 8 px of the
    # edge: 14.7 grey levels at the default fine width, 26.7 with it as wide as the coarse one,
    # 2.0 with a vanishing one: ratios of blurs of one image, far from any CPU's rounding.
    mask, _ = _disc(96, 40, 12)
    x = np.indices((96, 96))[1]
    photo = np.where((x < 48)[..., None], 50, 200).astype(np.uint8) * np.ones((1, 1, 3), np.uint8)
    stylised = np.full((96, 96, 3), 128, np.uint8)
    near = (mask > 0.01) & (mask < 0.99) & (np.abs(x - 47.5) < 8)

    def error(**widths):
        out = face_paste.match_edge_colour(photo, stylised, mask, 20, **widths)
        return np.abs(out.astype(int) - photo)[near].mean()

    assert error() < 0.7 * error(fine=face_paste.EDGE_SMOOTH)
    assert error(fine=1e-9) < 0.3 * error()
