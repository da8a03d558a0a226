"""DiffAugment: stateless, reproducible draws the same on every backend; each part does what it says."""

import numpy as np
import pytest
from keras import ops

from animegan_face.loss import augment


def _np(tensor):
    return np.asarray(ops.convert_to_numpy(tensor))


def _lowbias32_numpy(values):
    x = np.asarray(values).astype(np.uint32)
    with np.errstate(over="ignore"):
        x ^= x >> np.uint32(16)
        x = (x * np.uint32(0x7FEB352D)).astype(np.uint32)
        x ^= x >> np.uint32(15)
        x = (x * np.uint32(0x846CA68B)).astype(np.uint32)
        x ^= x >> np.uint32(16)
    return x.view(np.int32)


def test_hash_is_lowbias32_bit_for_bit():
    # Bit-exact integer arithmetic: the same on TensorFlow, JAX and numpy, hence the same draws.
    values = np.array([0, 1, 2, 12345, -1, 2 ** 31 - 1, -(2 ** 31)], np.int32)
    np.testing.assert_array_equal(_np(augment.hash32(values)), _lowbias32_numpy(values))


def test_uniform_draws_are_reproducible_in_range_and_differ_by_seed_and_salt():
    a = _np(augment.uniform((4, 1000), 7, 1))
    assert a.shape == (4, 1000) and a.min() >= 0 and a.max() < 1
    np.testing.assert_array_equal(a, _np(augment.uniform((4, 1000), 7, 1)))
    assert not np.array_equal(a, _np(augment.uniform((4, 1000), 8, 1)))
    assert not np.array_equal(a, _np(augment.uniform((4, 1000), 7, 2)))
    assert abs(a.mean() - 0.5) < 0.02  # 4000 draws: standard error 0.0046


def test_translation_moves_whole_pixels_and_repeats_the_border(rng):
    images = rng.uniform(-1, 1, (6, 16, 16, 3)).astype(np.float32)
    out = _np(augment.diff_augment(images, 3, ("translation",)))
    moved = 0
    for image, shifted in zip(images, out):
        # Each output row/column is a whole input row/column: find the shift by exact match.
        matches = [(dy, dx) for dy in range(-2, 3) for dx in range(-2, 3)
                   if np.allclose(shifted[2:-2, 2:-2], image[2 + dy:14 + dy, 2 + dx:14 + dx], atol=1e-6)]
        assert len(matches) == 1, matches
        dy, dx = matches[0]
        moved += (dy, dx) != (0, 0)
        if dy > 0:  # content moved up: the bottom rows repeat the last input row
            np.testing.assert_allclose(shifted[-1], shifted[-1 - dy] * 0 + image[-1, np.clip(
                np.arange(16) + dx, 0, 15)], atol=1e-6)
    assert moved >= 3


def test_cutout_blanks_a_square_of_half_the_side(rng):
    images = rng.uniform(0.5, 1, (4, 16, 16, 3)).astype(np.float32)  # no zero pixel to start with
    out = _np(augment.diff_augment(images, 11, ("cutout",)))
    for shifted in out:
        zero = np.all(shifted == 0, axis=-1)
        rows, cols = np.nonzero(zero)
        assert 0 < zero.sum() <= 64
        assert rows.max() - rows.min() + 1 <= 8 and cols.max() - cols.min() + 1 <= 8
        np.testing.assert_array_equal(zero, np.outer(zero.any(1), zero.any(0)))  # a rectangle


def test_colour_changes_each_image_differently_and_is_differentiable(rng):
    import tensorflow as tf

    images = tf.constant(rng.uniform(-1, 1, (4, 8, 8, 3)).astype(np.float32))
    with tf.GradientTape() as tape:
        tape.watch(images)
        out = augment.diff_augment(images, 5)
        total = tf.reduce_sum(out)
    gradient = tape.gradient(total, images)
    assert gradient is not None and np.isfinite(gradient.numpy()).all()
    assert np.abs(gradient.numpy()).sum() > 0
    changes = [np.abs(_np(out)[i] - images.numpy()[i]).mean() for i in range(4)]
    assert len(set(np.round(changes, 6))) == 4


def test_policy_parts():
    assert augment.policy_parts("") == ()
    assert augment.policy_parts("color, cutout") == ("color", "cutout")


def test_non_square_images_are_refused(rng):
    with pytest.raises(ValueError, match="square"):
        augment.diff_augment(rng.uniform(-1, 1, (1, 8, 6, 3)).astype(np.float32), 0)


def _uniform_numpy(count, seed, salt):
    base = _lowbias32_numpy(np.int32(seed + 1000003 * salt)).astype(np.int64)
    bits = _lowbias32_numpy(((base + np.arange(count)) & 0xFFFFFFFF).astype(np.uint32))
    return (bits & 0xFFFFFF).astype(np.float64) / (1 << 24)


def test_grain_is_box_muller_on_the_hash_draws_summed_over_2x2_pixels():
    # The same field recomputed in numpy (float64) from the integer hash: float32 log and cos are
    # within a few 1e-7 of it on any CPU (well conditioned for 1 - u >= 2^-24), 1e-5 leaves room.
    images = np.zeros((2, 4, 6, 3), np.float32)
    out = _np(augment.grain(images, 9, 0.1))
    u1 = _uniform_numpy(2 * 4 * 6, 9, augment.GRAIN_SALT).reshape(2, 4, 6, 1)
    u2 = _uniform_numpy(2 * 4 * 6, 9, augment.GRAIN_SALT + 1).reshape(2, 4, 6, 1)
    field = np.sqrt(-2 * np.log(1 - u1)) * np.cos(2 * np.pi * u2)
    field = (field + np.roll(field, 1, 1) + np.roll(field, 1, 2)
             + np.roll(field, (1, 1), (1, 2))) / 2
    np.testing.assert_allclose(out, np.repeat(0.1 * field, 3, axis=-1), atol=1e-5)


def test_grain_has_its_strength_its_pixel_size_and_is_reproducible():
    images = np.zeros((4, 64, 64, 3), np.float32)  # mid-grey: no clipping at this strength
    out = _np(augment.grain(images, 3, 0.05))
    np.testing.assert_array_equal(out[..., 0], out[..., 2])  # luminance: the same in R, G, B
    np.testing.assert_array_equal(out, _np(augment.grain(images, 3, 0.05)))
    assert not np.array_equal(out, _np(augment.grain(images, 4, 0.05)))
    # 16,384 draws: the standard deviation within 3 % (its standard error is 0.6 %, somewhat more
    # for correlated pixels); neighbours share two of four draws (correlation 1/2), pixels two
    # apart none.
    field = out[..., 0]
    assert abs(field.mean()) < 0.005 and field.std() == pytest.approx(0.05, rel=0.03)
    def correlation(shift):
        return np.corrcoef(field.ravel(), np.roll(field, shift, axis=2).ravel())[0, 1]
    assert correlation(1) == pytest.approx(0.5, abs=0.05) and abs(correlation(2)) < 0.05
    # Clipped to the image range, as a photo is.
    bright = _np(augment.grain(np.full((1, 16, 16, 3), 0.99, np.float32), 3, 0.5))
    assert bright.max() == 1.0 and bright.min() < 0.9
