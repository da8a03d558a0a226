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
