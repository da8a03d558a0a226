"""Golden values and properties of every loss term (tiny fixed tensors, numbers worked by hand)."""

import numpy as np
import pytest
import tensorflow as tf

from animegan_face.loss import losses

DISTANCES = ("huber", "l1", "l2")


def _value(tensor):
    return float(np.asarray(tensor))


# --- golden values -------------------------------------------------------------------------------
# In float32 (the training precision), on tiny tensors of values that are exact or nearly so
# (constant images, small integers, halves): each result is off by a few float32 roundings (about
# 1e-7 relative) in any summation order, so the bounds (pytest.approx's 1e-6, or 1e-5) hold for
# whatever kernel a CPU runs.

@pytest.mark.parametrize("distance, expected", [
    # differences 0, 0.5, 2, -3: huber 0, 0.125, 1.5, 2.5; l1 0, 0.5, 2, 3; l2 0, 0.25, 4, 9
    ("huber", 4.125 / 4), ("l1", 5.5 / 4), ("l2", 13.25 / 4),
])
def test_mean_distance_golden(distance, expected):
    a = np.array([[0.0, 0.5, 2.0, -3.0]], np.float32)
    assert _value(losses.mean_distance(a, np.zeros_like(a), distance)) == pytest.approx(expected)


def test_huber_is_continuous_at_delta():
    below = _value(losses.mean_distance(np.array([0.999999]), np.zeros(1), "huber"))
    above = _value(losses.mean_distance(np.array([1.000001]), np.zeros(1), "huber"))
    assert below == pytest.approx(0.5, abs=1e-5) and above == pytest.approx(0.5, abs=1e-5)


def test_generator_adversarial_golden():
    # (0-1)^2, (1-1)^2, (2-1)^2, (3-1)^2 -> mean of 1, 0, 1, 4
    assert _value(losses.generator_adversarial_loss(np.array([0.0, 1.0, 2.0, 3.0]))) == pytest.approx(1.5)


def test_discriminator_adversarial_golden():
    value = losses.discriminator_adversarial_loss(
        anime_scores=np.array([1.0, 0.0]),   # mean((s-1)^2) = 0.5
        fake_scores=np.array([0.5, 0.5]),    # mean(s^2) = 0.25
        gray_scores=np.array([1.0, -1.0]),   # 1.0
        smooth_scores=np.array([2.0, 2.0]),  # 4.0, weighted 0.1
    )
    assert _value(value) == pytest.approx(0.5 + 0.25 + 1.0 + 0.4)


def test_gram_matrix_golden():
    features = np.array([[[[1.0, 2.0], [3.0, 4.0]]]], np.float32)  # X = [[1, 2], [3, 4]], H*W*C = 4
    expected = np.array([[[10.0, 14.0], [14.0, 20.0]]]) / 4.0
    np.testing.assert_allclose(np.asarray(losses.gram_matrix(features)), expected, rtol=1e-6)


@pytest.mark.parametrize("distance, expected", [
    # Gram entries 2.5, 3.5, 3.5, 5 against 0: huber 2, 3, 3, 4.5; l1 the entries; l2 their squares
    ("huber", 12.5 / 4), ("l1", 14.5 / 4), ("l2", (6.25 + 12.25 * 2 + 25) / 4),
])
def test_style_loss_golden(distance, expected):
    fake = np.array([[[[1.0, 2.0], [3.0, 4.0]]]], np.float32)
    assert _value(losses.style_loss(fake, np.zeros_like(fake), distance)) == pytest.approx(expected)


def test_content_loss_golden():
    photo = np.full((1, 2, 2, 2), 2.0, np.float32)
    assert _value(losses.content_loss(photo, np.zeros_like(photo), "huber")) == pytest.approx(1.5)
    assert _value(losses.content_loss(photo, np.zeros_like(photo), "l2")) == pytest.approx(4.0)


@pytest.mark.parametrize("distance, expected", [
    # black -> white: only Y moves, by 1 (U and V of gray are 0): huber 0.5, l1 1, l2 1
    ("huber", 0.5), ("l1", 1.0), ("l2", 1.0),
])
def test_color_loss_black_to_white(distance, expected):
    black = -np.ones((1, 2, 2, 3), np.float32)
    assert _value(losses.color_loss(black, -black, distance)) == pytest.approx(expected, abs=1e-6)


@pytest.mark.parametrize("distance, expected", [
    # black -> pure red: |dY| 0.299, |dU| 0.14714119, |dV| 0.61497538
    ("huber", 0.2446231239), ("l1", 1.06111657), ("l2", 0.4892462478),
])
def test_color_loss_black_to_red(distance, expected):
    black = -np.ones((1, 2, 2, 3), np.float32)
    red = black.copy()
    red[..., 0] = 1.0
    assert _value(losses.color_loss(black, red, distance)) == pytest.approx(expected, rel=1e-5)


@pytest.mark.parametrize("distance, expected", [
    # black -> pure red on the 0..255 scale: |dY| 76.245, |dU| 37.52100, |dV| 156.81872, all past
    # Huber's delta: huber = sum(|d| - 0.5); l1 = sum |d|; l2 = sum d^2
    ("huber", 270.5847 - 1.5), ("l1", 270.5847), ("l2", 76.245**2 + 37.521003**2 + 156.818722**2),
])
def test_color_loss_at_pixel_scale(distance, expected):
    black = -np.ones((1, 2, 2, 3), np.float32)
    red = black.copy()
    red[..., 0] = 1.0
    assert _value(losses.color_loss(black, red, distance, scale=255.0)) == pytest.approx(expected, rel=1e-5)


@pytest.mark.parametrize("distance", DISTANCES)
def test_skin_loss_scale_matches_color_loss_scale(rng, distance):
    # float64, as in test_skin_loss_over_whole_image_is_color_loss.
    photo, fake = (rng.uniform(-1, 1, (2, 8, 8, 3)) for _ in range(2))
    whole = np.tile(np.array([[0.0, 0.0, 1.0, 1.0]], np.float32), (2, 1))
    for scale in (1.0, 255.0):
        assert _value(losses.skin_color_loss(photo, fake, whole, distance, scale)) == pytest.approx(
            _value(losses.color_loss(photo, fake, distance, scale)), rel=1e-12)


def test_skin_color_loss_golden():
    # Two 4x4 mid-gray photos; the first has a face box over its top-left 2x2 pixels, whose
    # stylised copy turns white (Y 0.5 -> 1: huber 0.125). The second has no face: counts 0.
    photo = np.zeros((2, 4, 4, 3), np.float32)
    fake = photo.copy()
    fake[0, :2, :2, :] = 1.0
    fake[1] = 1.0
    boxes = np.array([[0.0, 0.0, 0.5, 0.5], [0.0, 0.0, 0.0, 0.0]], np.float32)
    assert _value(losses.skin_color_loss(photo, fake, boxes, "huber")) == pytest.approx(0.125 / 2)
    # Outside the face nothing counts: changing the rest of image 0 changes nothing.
    fake[0, 2:, 2:, :] = -1.0
    assert _value(losses.skin_color_loss(photo, fake, boxes, "huber")) == pytest.approx(0.125 / 2)


def test_skin_color_loss_on_the_mean_keeps_the_tone_not_the_texture():
    # The face box of test_skin_color_loss_golden. Two of its pixels turn white and two black
    # (Y 0.5 -> 1 and 0.5 -> 0: huber 0.125 each): per pixel that costs 0.125, but the face's mean
    # Y is still 0.5, so "mean" costs nothing. When all four turn white the tone itself moves and
    # both statistics cost 0.125 (the second photo has no face: counts 0).
    photo = np.zeros((2, 4, 4, 3), np.float32)
    boxes = np.array([[0.0, 0.0, 0.5, 0.5], [0.0, 0.0, 0.0, 0.0]], np.float32)
    textured = photo.copy()
    textured[0, 0, :2, :] = 1.0
    textured[0, 1, :2, :] = -1.0
    textured[0, 2:, 2:, :] = 1.0  # outside the face: ignored by both
    assert _value(losses.skin_color_loss(photo, textured, boxes, "huber")) == pytest.approx(0.125 / 2)
    assert _value(losses.skin_color_loss(photo, textured, boxes, "huber", statistic="mean")) == 0.0
    paler = photo.copy()
    paler[0, :2, :2, :] = 1.0
    for statistic in losses.SKIN_STATISTICS:
        assert _value(losses.skin_color_loss(photo, paler, boxes, "huber", statistic=statistic)
                      ) == pytest.approx(0.125 / 2)
    with pytest.raises(ValueError, match="statistic"):
        losses.skin_color_loss(photo, paler, boxes, statistic="median")


def test_skin_color_loss_on_landmark_skin_golden():
    # The 8 x 8 skin of test_image_ops.SKIN_8X8: 42 pixels (an ellipse of 52, without 8 eye and
    # 2 lip pixels). Image 0's stylised copy turns white (Y 0.5 -> 1: huber 0.125) on one skin
    # pixel, on the eyes, the lips and a corner outside the ellipse: only the skin pixel counts,
    # 0.125 / 42. Image 1 has no face: counts 0. The batch mean: 0.125 / 84.
    skin = [0, 0, 1, 1, 0.25, 0.25, 0.5, 0.75, 0.625, 0.375, 0.75, 0.625, 0, 0, 0, 0]
    face_boxes = np.array([[0.0, 0.0, 1.0, 1.0] + skin, [0.0] * 20], np.float32)
    photo = np.zeros((2, 8, 8, 3), np.float32)
    fake = photo.copy()
    fake[0, 6, 3] = 1.0  # skin (chin)
    fake[0, 2:4, 2:6] = 1.0  # eyes
    fake[0, 5, 3:5] = 1.0  # lips
    fake[0, 0, 0] = 1.0  # corner, outside the ellipse
    fake[1] = 1.0
    assert _value(losses.skin_color_loss(photo, fake, face_boxes, "huber", region="landmarks")
                  ) == pytest.approx(0.125 / 84)
    # The thesis' box (the whole image here) counts all 12 changed pixels: 12 x 0.125 / 64 / 2.
    assert _value(losses.skin_color_loss(photo, fake, face_boxes, "huber")) == pytest.approx(
        12 * 0.125 / 128)
    # With scale 32 the Y difference is 16, huber 15.5: scaled as color_loss scales.
    assert _value(losses.skin_color_loss(photo, fake, face_boxes, "huber", 32.0, "landmarks")
                  ) == pytest.approx(15.5 / 84)


def test_skin_color_loss_on_landmarks_needs_the_regions():
    photo = np.zeros((1, 4, 4, 3), np.float32)
    with pytest.raises(ValueError, match="skin regions"):
        losses.skin_color_loss(photo, photo, np.array([[0, 0, 1, 1]], np.float32),
                               region="landmarks")
    with pytest.raises(ValueError, match="region must be one of"):
        losses.skin_color_loss(photo, photo, np.array([[0, 0, 1, 1]], np.float32), region="skin")


def test_config_offers_the_skin_regions_the_loss_knows():
    from animegan_face import config
    assert config.SKIN_REGIONS == losses.SKIN_REGIONS
    assert config.LossConfig().skin_region == "box"  # the thesis' term unless asked
    with pytest.raises(ValueError, match="skin_region"):
        config.LossConfig(skin_region="cheeks")
    assert config.SKIN_STATISTICS == losses.SKIN_STATISTICS
    assert config.LossConfig().skin_statistic == "pixels"
    with pytest.raises(ValueError, match="skin_statistic"):
        config.LossConfig(skin_statistic="median")


def test_face_feature_loss_golden():
    photo_features = np.ones((2, 1, 1, 2), np.float32)
    boxes = np.array([[0.1, 0.1, 0.9, 0.9], [0.0, 0.0, 0.0, 0.0]], np.float32)
    value = losses.face_feature_loss(photo_features, np.zeros_like(photo_features), boxes, "huber")
    assert _value(value) == pytest.approx(0.5 / 2)


# --- properties ----------------------------------------------------------------------------------

def _images(rng, shape=(2, 8, 8, 3)):
    return rng.uniform(-1, 1, shape).astype(np.float32)


@pytest.mark.parametrize("distance", DISTANCES)
def test_zero_on_identical_inputs(rng, distance):
    photo = _images(rng)
    features = rng.normal(size=(2, 4, 4, 5)).astype(np.float32)
    boxes = np.array([[0.1, 0.2, 0.7, 0.9], [0, 0, 0, 0]], np.float32)
    assert _value(losses.content_loss(features, features, distance)) == 0.0
    assert _value(losses.style_loss(features, features, distance)) == 0.0
    assert _value(losses.color_loss(photo, photo, distance)) == 0.0
    assert _value(losses.skin_color_loss(photo, photo, boxes, distance)) == 0.0
    assert _value(losses.face_feature_loss(features, features, boxes, distance)) == 0.0


@pytest.mark.parametrize("distance", DISTANCES)
def test_symmetric(rng, distance):
    # Exactly equal on any CPU: a - b is exactly -(b - a) in IEEE arithmetic and every distance is
    # even; rel 1e-6 only allows for a kernel that sums the same values in another order.
    a, b = _images(rng), _images(rng)
    boxes = np.array([[0.1, 0.2, 0.7, 0.9], [0.0, 0.0, 1.0, 1.0]], np.float32)
    for term in (losses.content_loss, losses.color_loss, losses.style_loss):
        assert _value(term(a, b, distance)) == pytest.approx(_value(term(b, a, distance)), rel=1e-6)
    assert _value(losses.skin_color_loss(a, b, boxes, distance)) == pytest.approx(
        _value(losses.skin_color_loss(b, a, boxes, distance)), rel=1e-6)


@pytest.mark.parametrize("distance", DISTANCES)
def test_skin_loss_over_whole_image_is_color_loss(rng, distance):
    # float64: the two sum 128 values per channel in different orders, which in float32 differs by
    # up to 128 * 6e-8 = 8e-6 relative, too close to a bound; in float64 by 1e-14.
    a, b = _images(rng).astype(np.float64), _images(rng).astype(np.float64)
    whole = np.array([[0.0, 0.0, 1.0, 1.0]] * 2, np.float32)
    assert _value(losses.skin_color_loss(a, b, whole, distance)) == pytest.approx(
        _value(losses.color_loss(a, b, distance)), rel=1e-12)


def test_distances_differ_and_unknown_distance_fails(rng):
    a, b = 3 * _images(rng), _images(rng)
    values = {d: _value(losses.content_loss(a, b, d)) for d in DISTANCES}
    assert len(set(values.values())) == 3
    with pytest.raises(ValueError, match="distance must be one of"):
        losses.content_loss(a, b, "l3")


def test_float16_inputs_give_float32(rng):
    a = _images(rng).astype(np.float16)
    assert losses.color_loss(a, a * 0.5).dtype == tf.float32
    assert losses.gram_matrix(a).dtype == tf.float32
    b = tf.cast(_images(rng), tf.bfloat16)
    assert losses.skin_color_loss(b, b * 0.5, np.array([[0.1, 0.1, 0.9, 0.9]] * 2, np.float32)).dtype == tf.float32


def test_float64_inputs_stay_float64(rng):
    """A float64 step (the backend-equivalence tests) stays float64 through every term, even with
    float32 face boxes or a float32 photo beside a float64 stylisation."""
    photo, fake = _images(rng), _images(rng).astype(np.float64)
    features = rng.normal(size=(2, 4, 4, 5))
    boxes = np.array([[0.1, 0.2, 0.7, 0.9], [0, 0, 0, 0]], np.float32)
    values = [losses.content_loss(features, features * 0.5), losses.style_loss(features, features * 0.5),
              losses.color_loss(photo, fake), losses.skin_color_loss(photo, fake, boxes),
              losses.face_feature_loss(features, features * 0.5, boxes),
              losses.generator_adversarial_loss(features),
              losses.discriminator_adversarial_loss(features, features, features, features)]
    assert [value.dtype for value in values] == [tf.float64] * len(values)
    # ... and computed in float64: 1 + 1e-12 is 1 in float32.
    ones = np.ones((1, 2, 2, 1))
    assert _value(losses.content_loss(ones, ones + 1e-12, "l1")) == pytest.approx(1e-12, rel=1e-3)


@pytest.mark.parametrize("distance", DISTANCES)
def test_gradients_finite_without_faces(rng, distance):
    """No face anywhere: face terms are exactly 0 and their gradients finite (no 0/0)."""
    photo = tf.constant(_images(rng))
    fake = tf.Variable(_images(rng))
    features = tf.Variable(rng.normal(size=(2, 2, 2, 3)).astype(np.float32))
    boxes = tf.zeros((2, 4))
    with tf.GradientTape() as tape:
        skin = losses.skin_color_loss(photo, fake, boxes, distance)
        face = losses.face_feature_loss(tf.ones((2, 2, 2, 3)), features, boxes, distance)
        total = skin + face
    grads = tape.gradient(total, [fake, features])
    assert _value(total) == 0.0
    for grad in grads:
        assert np.all(np.isfinite(np.asarray(grad)))


@pytest.mark.parametrize("distance", DISTANCES)
def test_gradients_finite_and_nonzero(rng, distance):
    photo = tf.constant(_images(rng))
    fake = tf.Variable(_images(rng))
    boxes = tf.constant([[0.1, 0.1, 0.8, 0.8], [0.2, 0.3, 0.9, 0.6]])
    with tf.GradientTape() as tape:
        total = (losses.color_loss(photo, fake, distance)
                 + losses.skin_color_loss(photo, fake, boxes, distance)
                 + losses.style_loss(fake, photo, distance))
    grad = np.asarray(tape.gradient(total, fake))
    assert np.all(np.isfinite(grad)) and np.any(grad != 0)


def test_surface_discriminator_golden():
    anime = np.array([[1.5, 0.5]], np.float32)  # (1.5-1)^2, (0.5-1)^2 -> mean 0.25
    fake = np.array([[0.2, -0.4, 0.0, 0.6]], np.float32)  # 0.04 + 0.16 + 0 + 0.36 -> mean 0.14
    assert float(losses.surface_discriminator_loss(anime, fake)) == pytest.approx(0.39, rel=1e-6)


def test_flatness_loss_golden_and_pulls_only_the_images():
    import tensorflow as tf

    images = tf.constant([[0.5, -0.5], [0.0, 1.0]])
    smoothed = tf.constant([[0.25, -0.25], [0.5, 1.0]])
    with tf.GradientTape(persistent=True) as tape:
        tape.watch([images, smoothed])
        value = losses.flatness_loss(images, smoothed)
    assert float(value) == pytest.approx((0.25 + 0.25 + 0.5 + 0.0) / 4, rel=1e-6)
    np.testing.assert_allclose(tape.gradient(value, images).numpy(), [[0.25, -0.25], [-0.25, 0.0]])
    assert tape.gradient(value, smoothed) is None  # the target does not move towards the images
    assert float(losses.flatness_loss(images, images)) == 0.0


def test_crack_loss_golden_fills_thin_dark_marks_on_the_skin_only():
    import tensorflow as tf

    images = np.full((3, 8, 8, 1), 0.5, np.float32)
    images[0, :, 3] = 0.0  # a 1 px dark line: a crack, filled by the 3 px closing
    images[1, :, 2:6] = 0.0  # a 4 px dark band: wider than the window, kept
    images[2, :, 3] = 0.0  # the same crack on a photo without a face
    regions = np.zeros((3, 20), np.float32)
    regions[:2, 4:8] = [-0.5, -0.5, 1.5, 1.5]  # an oval whose ellipse covers every pixel
    images = tf.constant(images)
    with tf.GradientTape() as tape:
        tape.watch(images)
        value = losses.crack_loss(images, regions, size=3)
    # Image 0: depth 0.5 on 8 of 64 pixels; image 1: 0; image 2: no face, counts 0.
    assert float(value) == pytest.approx(0.5 * 8 / 64 / 3, rel=1e-6)
    grad = tape.gradient(value, images).numpy()
    expected = np.zeros((3, 8, 8, 1), np.float32)
    expected[0, :, 3] = -1 / 64 / 3  # only the crack's pixels are lifted
    np.testing.assert_allclose(grad, expected, rtol=1e-6)
    # Left out of the mask (the eye and brow box over the line's columns), it no longer counts.
    regions[0, 8:12] = [0.0, 0.3, 1.0, 0.55]
    assert float(losses.crack_loss(images, regions, size=3)) == 0.0


def test_pair_loss_golden_and_pulls_only_the_images():
    import tensorflow as tf

    images = tf.constant([[0.5, -1.0], [0.0, 1.0]])
    targets = tf.constant([[-0.5, -0.5], [0.0, 0.75]])
    with tf.GradientTape(persistent=True) as tape:
        tape.watch([images, targets])
        value = losses.pair_loss(images, targets)
    assert float(value) == pytest.approx((1.0 + 0.5 + 0.0 + 0.25) / 4, rel=1e-6)
    np.testing.assert_allclose(tape.gradient(value, images).numpy(), [[0.25, -0.25], [0.0, 0.25]])
    assert tape.gradient(value, targets) is None  # fixed data: never pulled towards G(p)
