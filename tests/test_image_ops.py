"""image_ops against TensorFlow's own implementations and by construction."""

import numpy as np
import pytest
import tensorflow as tf

from animegan_face.loss import image_ops


def test_rgb_to_yuv_matches_tensorflow(rng):
    images = rng.uniform(-1, 1, (2, 5, 7, 3)).astype(np.float32)
    expected = tf.image.rgb_to_yuv((images + 1) / 2)
    np.testing.assert_allclose(np.asarray(image_ops.rgb_to_yuv(images)), expected, atol=1e-6)


def test_face_present():
    boxes = np.array([[0.1, 0.1, 0.5, 0.5], [0, 0, 0, 0], [0.2, 0.3, 0.2, 0.9]], np.float32)
    np.testing.assert_array_equal(np.asarray(image_ops.face_present(boxes)), [1.0, 0.0, 0.0])


def test_face_mask_covers_box_pixels():
    boxes = np.array([[0.25, 0.5, 0.75, 1.0], [0, 0, 0, 0]], np.float32)
    mask = np.asarray(image_ops.face_mask(boxes, 8, 4))[..., 0]
    expected = np.zeros((8, 4))
    expected[2:6, 2:4] = 1.0  # rows with centre in [0.25, 0.75), columns in [0.5, 1.0)
    np.testing.assert_array_equal(mask[0], expected)
    assert mask[1].sum() == 0


# An 8 x 8 image, pixel centres (i + 0.5) / 8. The oval box is the whole image: the ellipse of
# radius 0.5 around the centre holds, row by row from the top, 4, 6, 8, 8, 8, 8, 6, 4 pixels (52).
# Left out: eyes rows 2..3 x columns 2..5 (8 pixels), lips row 5 x columns 3..4 (2 pixels).
SKIN_8X8 = [0, 0, 1, 1, 0.25, 0.25, 0.5, 0.75, 0.625, 0.375, 0.75, 0.625, 0, 0, 0, 0]


def test_skin_region_mask_golden():
    regions = np.array([SKIN_8X8, [0.0] * 16], np.float32)  # the second photo has no face
    mask = np.asarray(image_ops.skin_region_mask(regions, 8, 8))
    assert mask.shape == (2, 8, 8, 1) and mask.dtype == np.float32
    expected = np.zeros((8, 8), np.float32)
    for row, count in enumerate((4, 6, 8, 8, 8, 8, 6, 4)):
        start = (8 - count) // 2
        expected[row, start:start + count] = 1.0
    expected[2:4, 2:6] = 0.0  # eyes
    expected[5, 3:5] = 0.0  # lips
    np.testing.assert_array_equal(mask[0, ..., 0], expected)
    assert expected.sum() == 42
    assert not mask[1].any()
    # Boxes reaching past the image (a face cut by the training window) still give an ellipse.
    shifted = np.array([[-0.5, 0, 0.5, 1] + [0.0] * 12], np.float32)
    top_half = np.asarray(image_ops.skin_region_mask(shifted, 8, 8))[0, ..., 0]
    # Centred on the top edge: rows 0..3 are the full ellipse's lower rows 4..7 (8, 8, 6, 4).
    lower = np.zeros((4, 8), np.float32)
    for row, count in enumerate((8, 8, 6, 4)):
        lower[row, (8 - count) // 2:(8 + count) // 2] = 1.0
    np.testing.assert_array_equal(top_half[:4], lower)
    assert not top_half[4:].any()


@pytest.mark.parametrize("size", [5, 16])
def test_crop_faces_matches_crop_and_resize(rng, size):
    images = rng.uniform(-1, 1, (3, 24, 32, 3)).astype(np.float32)
    boxes = np.array([[0.1, 0.2, 0.6, 0.9], [0.0, 0.0, 1.0, 1.0], [0.33, 0.41, 0.52, 0.58]], np.float32)
    expected = tf.image.crop_and_resize(images, boxes, tf.range(3), (size, size))
    np.testing.assert_allclose(np.asarray(image_ops.crop_faces(images, boxes, size)), expected, atol=1e-5)


def test_crop_faces_no_face_is_finite_and_differentiable(rng):
    images = tf.Variable(rng.uniform(-1, 1, (2, 8, 8, 3)).astype(np.float32))
    boxes = tf.constant([[0.0, 0.0, 0.0, 0.0], [0.25, 0.25, 0.75, 0.75]])
    with tf.GradientTape() as tape:
        crops = image_ops.crop_faces(images, boxes, 4)
        total = tf.reduce_sum(crops)
    grad = tape.gradient(total, images).numpy()
    assert np.all(np.isfinite(crops)) and np.all(np.isfinite(grad))
    assert grad[1].sum() > 0  # the face crop reaches back into the image


def test_float64_images_stay_float64_and_others_give_float32(rng):
    images = rng.uniform(-1, 1, (2, 8, 8, 3))
    boxes = np.array([[0.1, 0.1, 0.6, 0.9], [0, 0, 0, 0]], np.float32)
    assert image_ops.crop_faces(images, boxes, 4).dtype == tf.float64
    assert image_ops.rgb_to_yuv(images).dtype == tf.float64
    half = tf.cast(images, tf.bfloat16)
    assert image_ops.crop_faces(half, boxes, 4).dtype == tf.float32
    assert image_ops.rgb_to_yuv(half).dtype == tf.float32
