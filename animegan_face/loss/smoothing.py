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
backend, and computes in float32 (float64 for float64 input, `image_ops.float_dtype`).
"""

from keras import ops

from animegan_face.loss import image_ops


def _as_float(images):
    images = ops.convert_to_tensor(images)
    return ops.cast(images, image_ops.float_dtype(images))


def box_filter(images, radius):
    """Mean over the (2r+1) x (2r+1) window around each pixel, over the pixels inside the image.

    At the border the window is cut to the image and the mean taken over what is left (average
    pooling with "same" padding counts only real pixels on every backend), so a constant image
    stays constant up to the edge.
    """
    images = _as_float(images)
    if radius <= 0:
        return images
    size = 2 * radius + 1
    return ops.average_pool(images, pool_size=size, strides=1, padding="same")


def guided_filter(guide, images, radius, epsilon):
    """He et al.'s guided filter, channel by channel: q = mean(a) * I + mean(b), with
    a = cov(I, p) / (var(I) + epsilon), b = mean(p) - a * mean(I) over (2r+1)^2 windows.

    guide I and images p: (B, H, W, C) of the same shape ([-1, 1]); `guided_filter(x, x, r, eps)`
    is the self-guided, edge-preserving smoothing: where a window's variance is well above
    epsilon (an edge) the output follows the input, where it is below (texture, noise) the output
    is the window mean. epsilon is a variance on the [-1, 1] scale: 0.04 flattens differences
    of about 0.2 (25 grey levels) and keeps larger steps.
    """
    guide, images = _as_float(guide), _as_float(images)
    mean_guide = box_filter(guide, radius)
    mean_images = box_filter(images, radius)
    covariance = box_filter(guide * images, radius) - mean_guide * mean_images
    variance = box_filter(guide * guide, radius) - mean_guide * mean_guide
    a = covariance / (variance + epsilon)
    b = mean_images - a * mean_guide
    return box_filter(a, radius) * guide + box_filter(b, radius)


def colour_region_average(images, clusters=8, iterations=4):
    """Each pixel replaced by the mean colour of its k-means colour cluster, per image.

    Lloyd's algorithm on the (H*W, C) colours of each image, started from `clusters` centres
    chosen by farthest-point sampling (the first pixel, then each time the colour farthest from
    the centres so far: deterministic, and distinct colours get centres of their own), then
    `iterations` assignment/update rounds; a cluster left empty keeps its centre. The assignment is piecewise constant, so the gradient
    flows to the images through the cluster means only (callers stop it; see `losses.flatness_loss`).
    Returns (B, H, W, C) of the input's float dtype.
    """
    images = _as_float(images)
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
