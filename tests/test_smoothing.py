"""The edge-preserving smoothing behind the flatness terms: box mean, guided filter, colour regions.

Pinned against plain numpy versions written from the formulas (He et al. 2010 for the guided
filter), and by the properties the terms rely on: flat images stay flat, strong edges survive,
texture is flattened, a piecewise-flat image is its own colour-region average.
"""

import keras
import numpy as np
import pytest
from keras import ops

from animegan_face.loss import smoothing


def _box_numpy(images, radius):
    """Mean over the window cut to the image, per pixel and channel."""
    batch, height, width, channels = images.shape
    out = np.zeros_like(images, dtype=np.float64)
    for y in range(height):
        for x in range(width):
            window = images[:, max(0, y - radius):y + radius + 1, max(0, x - radius):x + radius + 1]
            out[:, y, x] = window.mean(axis=(1, 2))
    return out


def _guided_numpy(guide, images, radius, epsilon):
    box = lambda v: _box_numpy(v, radius)  # noqa: E731
    mean_i, mean_p = box(guide), box(images)
    a = (box(guide * images) - mean_i * mean_p) / (box(guide * guide) - mean_i ** 2 + epsilon)
    b = mean_p - a * mean_i
    return box(a) * guide + box(b)


def _np(tensor):
    return np.asarray(ops.convert_to_numpy(tensor))


def test_box_filter_is_the_window_mean_cut_at_the_border(rng):
    images = rng.uniform(-1, 1, (2, 9, 7, 3))
    np.testing.assert_allclose(_np(smoothing.box_filter(images, 2)), _box_numpy(images, 2),
                               rtol=0, atol=1e-12)  # float64 in, float64 sums of 25 numbers


def test_guided_filter_golden_against_numpy(rng):
    images = rng.uniform(-1, 1, (2, 12, 12, 3))
    np.testing.assert_allclose(_np(smoothing.guided_filter(images, images, 2, 0.04)),
                               _guided_numpy(images, images, 2, 0.04), rtol=0, atol=1e-10)


def test_guided_filter_float32_keeps_dtype_and_matches(rng):
    images = rng.uniform(-1, 1, (1, 10, 10, 3)).astype(np.float32)
    out = smoothing.guided_filter(images, images, 1, 0.04)
    assert keras.backend.standardize_dtype(out.dtype) == "float32"
    # float32 window sums of O(1) values: errors of a few ulp of 1, far below 1e-4.
    np.testing.assert_allclose(_np(out), _guided_numpy(images.astype(np.float64),
                                                       images.astype(np.float64), 1, 0.04), atol=1e-4)


def test_guided_filter_keeps_flat_images_and_strong_edges_and_flattens_texture(rng):
    flat = np.full((1, 16, 16, 3), 0.3)
    np.testing.assert_allclose(_np(smoothing.guided_filter(flat, flat, 3, 0.04)), flat, atol=1e-12)
    # A black/white step (variance 1 across it, far above epsilon) stays a step ...
    step = np.where(np.arange(16)[None, None, :, None] < 8, -1.0, 1.0) * np.ones((1, 16, 16, 3))
    filtered = _np(smoothing.guided_filter(step, step, 3, 0.04))
    assert np.abs(filtered - step).max() < 0.05
    # ... while small texture (std 0.05, variance 0.0025 << epsilon) is mostly removed.
    texture = 0.2 + rng.normal(0, 0.05, (1, 32, 32, 3))
    smoothed = _np(smoothing.guided_filter(texture, texture, 3, 0.04))
    assert smoothed.std() < 0.3 * texture.std()


def test_colour_region_average_keeps_a_piecewise_flat_image():
    colours = np.array([[-0.8, 0.1, 0.5], [0.6, 0.6, -0.2], [0.0, -0.9, 0.9]])
    labels = np.arange(6 * 18).reshape(6, 18) % 3
    image = colours[labels][None]
    np.testing.assert_allclose(_np(smoothing.colour_region_average(image, clusters=8)), image,
                               atol=1e-12)


@pytest.mark.parametrize("clusters", [2, 5])
def test_colour_region_average_has_at_most_k_colours_each_a_region_mean(rng, clusters):
    image = rng.uniform(-1, 1, (2, 10, 10, 3))
    out = _np(smoothing.colour_region_average(image, clusters=clusters, iterations=3))
    for b in range(2):
        pixels = out[b].reshape(-1, 3)
        unique = np.unique(np.round(pixels, 9), axis=0)
        assert 1 < len(unique) <= clusters
        # Every output colour lies inside the input's colour box (a mean of input colours).
        assert (pixels >= image[b].reshape(-1, 3).min(0) - 1e-9).all()
        assert (pixels <= image[b].reshape(-1, 3).max(0) + 1e-9).all()
