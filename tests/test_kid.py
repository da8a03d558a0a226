"""KID: the unbiased MMD^2 with the cubic kernel, pinned by hand and by its statistical properties."""

import numpy as np
import pytest

from animegan_face.evaluation import kid


def test_polynomial_kernel_golden():
    a = np.array([[1.0, 0.0], [1.0, 1.0]])
    b = np.array([[2.0, 2.0]])
    # a.b / d + 1: 2/2 + 1 = 2 -> 8;  4/2 + 1 = 3 -> 27
    np.testing.assert_allclose(kid.polynomial_kernel(a, b), [[8.0], [27.0]])


def test_mmd2_unbiased_matches_the_double_sums():
    rng = np.random.default_rng(0)
    a, b = rng.normal(size=(5, 3)), rng.normal(1, 1, size=(4, 3))
    k = lambda x, y: (x @ y / 3 + 1) ** 3  # noqa: E731
    within_a = sum(k(a[i], a[j]) for i in range(5) for j in range(5) if i != j) / 20
    within_b = sum(k(b[i], b[j]) for i in range(4) for j in range(4) if i != j) / 12
    across = sum(k(a[i], b[j]) for i in range(5) for j in range(4)) / 20
    assert kid.mmd2_unbiased(a, b) == pytest.approx(within_a + within_b - 2 * across, rel=1e-12)


def test_zero_in_expectation_for_one_distribution_and_larger_across_distributions():
    rng = np.random.default_rng(1)
    anime = rng.normal(0, 1, size=(600, 16))
    more_anime = rng.normal(0, 1, size=(600, 16))
    photos = rng.normal(0.5, 1.3, size=(600, 16))
    same, same_std = kid.kernel_inception_distance(anime, more_anime, subsets=50, subset_size=200)
    across, _ = kid.kernel_inception_distance(photos, anime, subsets=50, subset_size=200)
    # Unbiased: the same-distribution estimate sits within a few standard errors of 0 (it can be
    # negative), far below the estimate across distributions.
    assert abs(same) < 3 * same_std / np.sqrt(50) + 1e-3 * across
    assert across > 20 * max(abs(same), same_std)


def test_seeded_subsets_are_repeatable_and_too_few_images_are_refused():
    rng = np.random.default_rng(2)
    a, b = rng.normal(size=(30, 4)), rng.normal(size=(40, 4))
    assert kid.kernel_inception_distance(a, b, subsets=5, subset_size=10) == \
        kid.kernel_inception_distance(a, b, subsets=5, subset_size=10)
    with pytest.raises(ValueError, match="at least two"):
        kid.mmd2_unbiased(a[:1], b)


def test_feature_extractor_gives_512_pooled_features_per_image():
    rng = np.random.default_rng(3)
    images = [rng.integers(0, 256, (32, 32, 3), dtype=np.uint8) for _ in range(3)]
    features = kid.FeatureExtractor(weights="none", batch_size=2)(images)
    assert features.shape == (3, 512) and features.dtype == np.float64
    assert (features >= 0).all()  # after block5_conv3's ReLU


def test_cached_features_are_reused_only_for_the_same_images_and_weights(tmp_path):
    rng = np.random.default_rng(4)
    images = [rng.integers(0, 256, (8, 8, 3), dtype=np.uint8) for _ in range(3)]
    calls = []

    def extract(batch):
        calls.append(len(batch))
        return np.stack([image.mean(axis=(0, 1)) for image in batch]).astype(np.float64)

    first = kid.cached_features(extract, images, "imagenet", tmp_path)
    again = kid.cached_features(extract, images, "imagenet", tmp_path)
    np.testing.assert_array_equal(first, again)
    assert calls == [3]  # the second call read the file
    changed = images[:2] + [images[2] ^ 1]  # one pixel bit of one image
    kid.cached_features(extract, changed, "imagenet", tmp_path)
    kid.cached_features(extract, images, "other.weights.h5", tmp_path)
    kid.cached_features(extract, images, "none", tmp_path)  # random weights: never cached
    assert calls == [3, 3, 3, 3]
    assert len(list(tmp_path.iterdir())) == 3
    for path in tmp_path.iterdir():
        path.write_bytes(b"not an array")
    np.testing.assert_array_equal(kid.cached_features(extract, images, "imagenet", tmp_path), first)
    assert calls == [3, 3, 3, 3, 3]  # recomputed, and the file replaced
    assert kid.cached_features(extract, images, "imagenet", tmp_path).shape == (3, 3)
    assert calls == [3, 3, 3, 3, 3]
