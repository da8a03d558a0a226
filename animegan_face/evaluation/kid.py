"""Kernel inception distance (Binkowski et al. 2018) between two sets of images, on VGG16 features.

KID is the squared maximum mean discrepancy between the feature distributions of two image sets
with the cubic polynomial kernel k(x, y) = (x.y / d + 1)^3, estimated without bias:

    MMD^2 = mean_{i != j} k(a_i, a_j) + mean_{i != j} k(b_i, b_j) - 2 mean_{i, j} k(a_i, b_j)

on random subsets of equal size (the mean and standard deviation over subsets are reported). It
is zero in expectation for two samples of one distribution (and can then be slightly negative),
needs no Gaussian assumption (unlike FID) and is unbiased for small sets, which suits 200 held-out
photos. Lower is closer.

Features: ImageNet VGG16 (the network `fetch_weights.py vgg16` provides offline; Inception cannot
be had here), `block5_conv3` after its ReLU, averaged over space: 512 numbers per image. That is
a deeper layer than the training losses use (`block4_conv3` before ReLU), so a model is not
scored on the very features it was trained to match. Values are therefore "KID on VGG16", not
comparable with published Inception KIDs; compare rows of one table.
"""

import hashlib
import io
import pathlib

import numpy as np

from animegan_face.data.image_files import write_file_atomic

FEATURE_LAYER = "block5_conv3"
DEFAULT_SUBSETS = 100
DEFAULT_SUBSET_SIZE = 1000


def polynomial_kernel(a, b):
    """(a b^T / d + 1)^3 for feature rows a (n, d) and b (m, d): (n, m) float64."""
    a, b = np.asarray(a, np.float64), np.asarray(b, np.float64)
    return (a @ b.T / a.shape[1] + 1.0) ** 3


def mmd2_unbiased(a, b):
    """The unbiased MMD^2 estimate of the module docstring for feature sets a (n, d), b (m, d)."""
    n, m = len(a), len(b)
    if n < 2 or m < 2:
        raise ValueError(f"KID needs at least two images on each side, got {n} and {m}")
    k_aa, k_bb, k_ab = polynomial_kernel(a, a), polynomial_kernel(b, b), polynomial_kernel(a, b)
    within_a = (k_aa.sum() - np.trace(k_aa)) / (n * (n - 1))
    within_b = (k_bb.sum() - np.trace(k_bb)) / (m * (m - 1))
    return float(within_a + within_b - 2.0 * k_ab.mean())


def kernel_inception_distance(features_a, features_b, subsets=DEFAULT_SUBSETS,
                              subset_size=DEFAULT_SUBSET_SIZE, seed=0):
    """(mean, standard deviation) of `mmd2_unbiased` over `subsets` random subsets of each set,
    each of min(subset_size, len(a), len(b)) rows drawn without replacement (seeded: the same
    subsets for every model scored against the same reference set)."""
    features_a, features_b = np.asarray(features_a), np.asarray(features_b)
    size = min(subset_size, len(features_a), len(features_b))
    rng = np.random.default_rng(seed)
    values = [mmd2_unbiased(features_a[rng.choice(len(features_a), size, replace=False)],
                            features_b[rng.choice(len(features_b), size, replace=False)])
              for _ in range(subsets)]
    return float(np.mean(values)), float(np.std(values))


class FeatureExtractor:
    """Pooled VGG16 `FEATURE_LAYER` features of uint8 RGB images, in batches.

    weights: as the extractors' option ("imagenet" finds the file `fetch_weights.py vgg16` wrote
    in the Keras cache, or downloads through keras.applications; "none" random, for tests; or a
    file path). TensorFlow/Keras are imported here, not by the metrics that do not need them.
    """

    def __init__(self, weights="imagenet", batch_size=16):
        from animegan_face.models import extractors  # pylint: disable=import-outside-toplevel

        self.model = extractors.build_pooled_vgg16(FEATURE_LAYER, weights)
        self.batch_size = batch_size

    def __call__(self, images):
        """(N, 512) float64 features of a list of uint8 (H, W, 3) RGB images of one size."""
        rows = []
        for start in range(0, len(images), self.batch_size):
            batch = np.stack(images[start:start + self.batch_size]).astype(np.float32) / 127.5 - 1.0
            rows.append(np.asarray(self.model(batch, training=False), np.float64))
        return np.concatenate(rows, axis=0)


def cached_features(extract, images, weights, cache_dir):
    """`extract(images)`, kept in `cache_dir` under a key of the images' pixels, `weights` and
    `FEATURE_LAYER`: the anime reference of every evaluation is the same 1,000 images, whose VGG16
    features cost most of a KID run on a CPU. No cache when `cache_dir` is empty or the weights
    are random ("none"). A damaged cache file is recomputed and replaced."""
    if not cache_dir or weights == "none":
        return extract(images)
    digest = hashlib.sha256(f"{FEATURE_LAYER}|{weights}|{len(images)}".encode())
    for image in images:
        digest.update(np.ascontiguousarray(image, np.uint8).tobytes())
        digest.update(str(np.shape(image)).encode())
    path = pathlib.Path(cache_dir).expanduser() / f"vgg16_{digest.hexdigest()[:32]}.npy"
    try:
        features = np.load(path, allow_pickle=False)
        if features.shape[0] == len(images):
            return features
    except (OSError, ValueError):
        pass
    features = extract(images)
    buffer = io.BytesIO()
    np.save(buffer, features, allow_pickle=False)
    path.parent.mkdir(parents=True, exist_ok=True)
    write_file_atomic(path, buffer.getvalue())
    return features
