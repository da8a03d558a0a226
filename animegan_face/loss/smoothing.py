"""Edge-preserving smoothing of image batches, in `keras.ops`: what the flatness terms compare with.

Anime shading is flat: a face is a few regions of nearly constant colour bounded by clean edges.
The flatness candidates of the objective (`objectives`, LossConfig `surface`, `distill`, `region`)
need a smoothed copy of an image that keeps its edges:

- `guided_filter` (He, Sun and Tang 2010), self-guided: the "surface" representation of
  White-box Cartoonization and the differentiable filter AnimeGANv3 runs on its output;
- `colour_region_average`: every pixel replaced by the mean colour of its k-means colour cluster,
  a posterised, flat-shaded copy (a cheap stand-in for White-box's superpixel averaging, which has
  no `keras.ops` form).

Images are float (B, H, W, C) in [-1, 1]; every function is differentiable, runs on every Keras
backend, and computes in float32 (float64 for float64 input, `layers.float_dtype`).
"""

from keras import ops

# The box and guided filters live with the generator's layers (`GuidedFilter`, the optional output
# filter of a generator); the flatness terms use the same functions.
from animegan_face.models.layers import box_filter, guided_filter  # noqa: F401 - re-exported
from animegan_face.models.layers import float_dtype


def colour_region_average(images, clusters=8, iterations=4):
    """Each pixel replaced by the mean colour of its k-means colour cluster, per image.

    Lloyd's algorithm on the (H*W, C) colours of each image, started from `clusters` centres
    chosen by farthest-point sampling (the first pixel, then each time the colour farthest from
    the centres so far: deterministic, and distinct colours get centres of their own), then
    `iterations` assignment/update rounds; a cluster left empty keeps its centre. The assignment is piecewise constant, so the gradient
    flows to the images through the cluster means only (callers stop it; see `losses.flatness_loss`).
    Returns (B, H, W, C) of the input's float dtype.
    """
    images = ops.convert_to_tensor(images)
    images = ops.cast(images, float_dtype(images))
    batch, height, width, channels = ops.shape(images)
    colours = ops.reshape(images, (batch, height * width, channels))
    centres = _farthest_point_centres(colours, clusters)  # (B, K, C)
    for _ in range(iterations):
        assignment = _nearest(colours, centres)  # (B, N, K) one-hot
        counts = ops.sum(assignment, axis=1)[..., None]  # (B, K, 1)
        sums = ops.einsum("bnk,bnc->bkc", assignment, colours)
        centres = ops.where(counts > 0, sums / ops.maximum(counts, 1.0), centres)
    averaged = ops.einsum("bnk,bkc->bnc", _nearest(colours, centres), centres)
    return ops.reshape(averaged, (batch, height, width, channels))


def _farthest_point_centres(colours, clusters):
    chosen = [colours[:, 0, :]]
    nearest = ops.sum(ops.square(colours - chosen[0][:, None, :]), axis=-1)  # (B, N)
    for _ in range(clusters - 1):
        index = ops.argmax(nearest, axis=1)  # (B,)
        centre = ops.take_along_axis(colours, index[:, None, None], axis=1)[:, 0, :]
        chosen.append(centre)
        nearest = ops.minimum(nearest, ops.sum(ops.square(colours - centre[:, None, :]), axis=-1))
    return ops.stack(chosen, axis=1)


def _nearest(colours, centres):
    """One-hot (B, N, K) of the nearest centre of each colour (squared Euclidean distance)."""
    distances = (ops.sum(ops.square(colours), axis=-1)[..., None]
                 - 2.0 * ops.einsum("bnc,bkc->bnk", colours, centres)
                 + ops.sum(ops.square(centres), axis=-1)[:, None, :])
    return ops.one_hot(ops.argmin(distances, axis=-1), ops.shape(centres)[1], dtype=colours.dtype)
