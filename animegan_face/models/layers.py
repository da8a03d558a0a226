"""Custom Keras layers of the AnimeGAN networks.

Each layer is written with `keras.ops`, keeps every constructor argument in `get_config()`, and
works for any input size known only at run time (needed for variable-size SavedModel/TFLite export:
`UpSampling2D(interpolation="bilinear")` fails there, a resize with a computed size does not).
"""

import keras
import numpy as np
from keras import layers, ops

# The LeakyReLU slope of both AnimeGAN generators and the discriminator: 0.2, written as the float32
# nearest to it (0.20000000298...). TensorFlow's LeakyRelu op holds its slope in a float32
# attribute, so this is the slope TensorFlow uses even in float64; JAX, given plain 0.2, used
# another one in float64 (a 1.5e-8 relative difference that instance norm's backward pass amplified
# to 1e-6 in the backend-equivalence test). In float32 and below the two are the same number.
LEAKY_SLOPE = float(np.float32(0.2))


def float_dtype(*tensors):
    """The dtype to compute in for these inputs: "float64" if any is float64, else "float32".

    float16 and bfloat16 (mixed precision) are widened to float32, whose range and precision
    resizing positions, means and Gram matrices need; float64 stays float64, so that a whole train
    step can run in float64 (the tests comparing two backends do, where float32 rounding would hide
    a real difference). Here, in the earliest stage that needs it (the resize positions below, the
    extractors' input scaling); later stages import it from here.
    """
    dtypes = {keras.backend.standardize_dtype(tensor.dtype) for tensor in tensors}
    return "float64" if "float64" in dtypes else "float32"


def output_dtype():
    """The dtype of a network's last layer: float32, whatever the compute dtype of the layers before
    (under mixed precision the losses and exports read float32), or float64 under a float64 policy,
    which a float32 output would round."""
    return "float64" if keras.config.dtype_policy().compute_dtype == "float64" else "float32"


@keras.saving.register_keras_serializable(package="animegan_face")
class ReflectionPad2D(layers.Layer):
    """Pads height and width by reflection (edge pixel not repeated), like `tf.pad(mode="REFLECT")`.

    Args:
        padding: `(top, bottom, left, right)` in pixels.
    """

    def __init__(self, padding=(1, 1, 1, 1), **kwargs):
        super().__init__(**kwargs)
        self.padding = tuple(int(p) for p in padding)

    def call(self, inputs):
        top, bottom, left, right = self.padding
        return ops.pad(inputs, [[0, 0], [top, bottom], [left, right], [0, 0]], mode="reflect")

    def compute_output_shape(self, input_shape):
        top, bottom, left, right = self.padding
        batch, height, width, channels = input_shape
        return (
            batch,
            None if height is None else height + top + bottom,
            None if width is None else width + left + right,
            channels,
        )

    def get_config(self):
        return {**super().get_config(), "padding": self.padding}


@keras.saving.register_keras_serializable(package="animegan_face")
class Resize2D(layers.Layer):
    """Bilinear resize by a fixed factor of the run-time height and width.

    Args:
        scale: 2.0 doubles each side (Upsample), 0.5 halves it (Downsample, floor for odd sizes).
        align_corners: False: half-pixel centres (`tf.image.resize`; AnimeGAN v1). True: the
            corner pixels of input and output coincide, output pixel i samples input position
            i * (in - 1) / (out - 1) (PyTorch `interpolate(..., align_corners=True)`, which the
            published AnimeGANv2 PyTorch weights were made with).
    """

    def __init__(self, scale, align_corners=False, **kwargs):
        super().__init__(**kwargs)
        self.scale = float(scale)
        self.align_corners = bool(align_corners)

    def call(self, inputs):
        height, width = inputs.shape[1], inputs.shape[2]
        static = height is not None and width is not None
        if keras.backend.backend() != "tensorflow":  # JAX and PyTorch always see concrete shapes
            size = (int(height * self.scale), int(width * self.scale))
            if self.align_corners:
                return _resize_bilinear(inputs, size, align_corners=True)
            # antialias off: AnimeGAN's reference resizes plain bilinear in both directions.
            return ops.image.resize(inputs, size, interpolation="bilinear", antialias=False)
        # Under TensorFlow the size may be known only at run time (variable-size SavedModel and
        # TFLite): keras.ops.image.resize rejects a tensor size in graph mode, tf.image takes it.
        import tensorflow as tf

        if static:
            size = (int(height * self.scale), int(width * self.scale))
            if keras.backend.standardize_dtype(inputs.dtype) == "float64":
                # TensorFlow's resize ops compute in, and return, float32 whatever the input: a
                # float64 step (the backend-equivalence tests) takes the keras.ops resize instead.
                return _resize_bilinear(inputs, size, self.align_corners)
        else:
            size = tf.cast(tf.cast(tf.shape(inputs)[1:3], tf.float32) * self.scale, tf.int32)
        if self.align_corners:  # tf.image.resize has no such mode; the raw op is one TFLite op
            return tf.raw_ops.ResizeBilinear(images=inputs, size=size, align_corners=True)
        return tf.image.resize(inputs, size, method="bilinear")

    def compute_output_shape(self, input_shape):
        batch, height, width, channels = input_shape
        return (
            batch,
            None if height is None else int(height * self.scale),
            None if width is None else int(width * self.scale),
            channels,
        )

    def get_config(self):
        return {**super().get_config(), "scale": self.scale, "align_corners": self.align_corners}


@keras.saving.register_keras_serializable(package="animegan_face")
class GuidedFilter(layers.Layer):
    """The self-guided, edge-preserving filter (`guided_filter(x, x, radius, epsilon)`) as a layer:
    the optional last layer of a generator (`networks.build_generator(output_filter=...)`).

    AnimeGANv3 runs such a filter on its generator's output: texture and shading noise below the
    epsilon variance are averaged away, outlines above it are kept. It has no weights, so a trained
    generator's weights load with or without it. The radius is in pixels at any input size.
    Computes in float32 (float64 under a float64 policy) and returns `output_dtype()`.
    """

    def __init__(self, radius, epsilon, **kwargs):
        kwargs.setdefault("dtype", output_dtype())
        super().__init__(**kwargs)
        if int(radius) < 1 or float(epsilon) <= 0:
            raise ValueError(f"GuidedFilter: radius must be >= 1 and epsilon > 0, got {radius}, "
                             f"{epsilon}")
        self.radius, self.epsilon = int(radius), float(epsilon)

    def call(self, inputs):
        return guided_filter(inputs, inputs, self.radius, self.epsilon)

    def compute_output_shape(self, input_shape):
        return input_shape

    def get_config(self):
        return {**super().get_config(), "radius": self.radius, "epsilon": self.epsilon}


def _as_float(images):
    images = ops.convert_to_tensor(images)
    return ops.cast(images, float_dtype(images))


def box_filter(images, radius):
    """Mean over the (2r+1) x (2r+1) window around each pixel, over the pixels inside the image.

    At the border the window is cut to the image and the mean taken over what is left (average
    pooling with "same" padding counts only real pixels on every backend, in TFLite and in ONNX's
    AveragePool without count_include_pad), so a constant image stays constant up to the edge.
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
    self_guided = guide is images  # one mean and variance serve both (the output filter's case)
    guide = _as_float(guide)
    images = guide if self_guided else _as_float(images)
    mean_guide = box_filter(guide, radius)
    mean_images = mean_guide if self_guided else box_filter(images, radius)
    variance = box_filter(guide * guide, radius) - mean_guide * mean_guide
    covariance = (variance if self_guided
                  else box_filter(guide * images, radius) - mean_guide * mean_images)
    a = covariance / (variance + epsilon)
    b = mean_images - a * mean_guide
    return box_filter(a, radius) * guide + box_filter(b, radius)


def _resize_bilinear(images, size, align_corners):
    """Bilinear resize of (B, H, W, C) to `size` in keras.ops (static shapes), no antialiasing.

    align_corners: output pixel i samples input position i * (in - 1) / (out - 1); otherwise
    half-pixel centres as `tf.image.resize`: position (i + 0.5) * in / out - 0.5, clamped to
    [0, in - 1].
    Positions are float32 (float64 for float64 images: `float_dtype`); the result keeps the dtype
    of the images.
    """
    dtype = float_dtype(images)
    for axis, out_size in ((1, size[0]), (2, size[1])):
        in_size = images.shape[axis]
        index = ops.arange(out_size, dtype=dtype)
        if align_corners:
            position = index * ((in_size - 1) / (out_size - 1) if out_size > 1 else 0.0)
        else:
            position = ops.clip((index + 0.5) * (in_size / out_size) - 0.5, 0.0, in_size - 1)
        low = ops.minimum(ops.floor(position), in_size - 1)
        fraction = ops.reshape(position - low, [-1, 1] if axis == 1 else [-1])[..., None]
        low = ops.cast(low, "int32")
        high = ops.minimum(low + 1, in_size - 1)
        below, above = ops.take(images, low, axis=axis), ops.take(images, high, axis=axis)
        images = below + (above - below) * ops.cast(fraction, images.dtype)
    return images
