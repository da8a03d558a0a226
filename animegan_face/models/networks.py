"""The AnimeGAN v1 generator and patch discriminator (Chen et al. 2019), in Keras 3.

`build_generator(architecture)` also builds the lighter AnimeGANv2 generator (`generator_v2.py`).
All take images in [-1, 1], channels last, of any height and width divisible by 4 known only at
run time. Layer names are stable (`b1_conv1`, `m_ir3_dw`, `d_conv_s2_1`, ...) so that weight
converters and checkpoints can address them.

Example:
    generator = build_generator()       # or build_generator("animegan_v2")
    fake = generator(photos)            # (B, H, W, 3) in [-1, 1]
    logits = build_discriminator()(fake)  # (B, H/4, W/4, 1)
"""

import keras
from keras import layers

from animegan_face.config import GENERATORS
from animegan_face.models.generator_v2 import build_generator_v2
from animegan_face.models.layers import (LEAKY_SLOPE, GuidedFilter, ReflectionPad2D, Resize2D,
                                         output_dtype)

_INSTANCE_NORM_EPSILON = 1e-5


def _instance_norm(name):
    # GroupNormalization with one group per channel is instance norm (matches tf-addons to 7e-7).
    return layers.GroupNormalization(groups=-1, epsilon=_INSTANCE_NORM_EPSILON, name=name)


def _norm_lrelu(x, name):
    x = _instance_norm(f"{name}_norm")(x)
    return layers.LeakyReLU(negative_slope=LEAKY_SLOPE, name=f"{name}_lrelu")(x)


def _conv_norm_lrelu(x, filters, name, kernel_size=3):
    """Reflect-padded, bias-free conv, instance norm, LeakyReLU(0.2): v1's `Conv2DNormLReLU`."""
    if kernel_size == 3:
        x = ReflectionPad2D((1, 1, 1, 1), name=f"{name}_pad")(x)
    x = layers.Conv2D(filters, kernel_size, use_bias=False, name=name)(x)
    return _norm_lrelu(x, name)


def _separable_conv(x, filters, name, strides=1):
    """Depthwise 3x3 + pointwise, bias-free, IN, LReLU: v1's `Separable_conv2d`.

    Stride 2 pads only bottom/right (as v1 does), so an even H gives exactly H/2.
    """
    padding = (1, 1, 1, 1) if strides == 1 else (0, 1, 0, 1)
    x = ReflectionPad2D(padding, name=f"{name}_pad")(x)
    x = layers.SeparableConv2D(filters, 3, strides=strides, use_bias=False, name=name)(x)
    return _norm_lrelu(x, name)


def _downsample(x, filters, name):
    """Bilinear resize to half size, then a separable conv: v1's `Downsample`."""
    x = Resize2D(0.5, name=f"{name}_resize")(x)
    return _separable_conv(x, filters, name)


def _upsample(x, filters, name):
    """Bilinear resize to double size, then a separable conv: v1's `Unsample`."""
    x = Resize2D(2.0, name=f"{name}_resize")(x)
    return _separable_conv(x, filters, name)


def _inverted_residual(x, name, expansion=2):
    """MobileNetV2 block: 1x1 expand, depthwise 3x3, 1x1 project, IN, identity shortcut."""
    channels = x.shape[-1]
    y = _conv_norm_lrelu(x, channels * expansion, f"{name}_expand", kernel_size=1)
    y = ReflectionPad2D((1, 1, 1, 1), name=f"{name}_dw_pad")(y)
    y = layers.DepthwiseConv2D(3, use_bias=False, name=f"{name}_dw")(y)
    y = _norm_lrelu(y, f"{name}_dw")
    y = layers.Conv2D(channels, 1, use_bias=False, name=f"{name}_project")(y)
    y = _instance_norm(f"{name}_project_norm")(y)
    return layers.Add(name=f"{name}_add")([x, y])


def build_generator(architecture="animegan_v1", name="generator", image_shape=(None, None, 3),
                    output_filter=None):
    """The generator named by `architecture` (`GENERATORS`): "animegan_v1" (the thesis') or
    "animegan_v2" (lighter, `generator_v2.build_generator_v2`).

    Input and output: float images in [-1, 1], shape (B, H, W, 3), H and W divisible by 4.
    `image_shape` may fix H and W (every layer then has static shapes, e.g. for FLOP counts).
    `output_filter`: None, or `(radius, epsilon)` of a `GuidedFilter` applied to the output (no
    weights: the same weights file loads either way; the training losses then see the filtered
    output, as AnimeGANv3's do).
    """
    if architecture not in _BUILDERS:
        raise ValueError(f"generator: must be one of {GENERATORS}, got {architecture!r}")
    generator = _BUILDERS[architecture](name=name, image_shape=image_shape)
    if output_filter is None:
        return generator
    radius, epsilon = output_filter
    filtered = GuidedFilter(radius, epsilon, name="output_filter")(generator.output)
    return keras.Model(generator.input, filtered, name=name)


def generator_of_weights(path):
    """The architecture of `GENERATORS` whose variables (their shapes) a generator `.weights.h5`
    file holds, or None when none fits: what a run's checkpoint is, whatever its config.json says."""
    import h5py  # Keras' own weights format; imported here, most callers never need it

    shapes = []
    with h5py.File(path, "r") as file:
        file.visititems(lambda _, item: shapes.append(tuple(item.shape))
                        if isinstance(item, h5py.Dataset) else None)
    return generator_of_shapes(shapes)


def generator_of_shapes(shapes):
    """The architecture of `GENERATORS` whose variables have exactly these shapes (any order), or
    None: the two generators differ in their layers, so the shapes tell them apart."""
    shapes = sorted(tuple(shape) for shape in shapes)
    for architecture in GENERATORS:
        if sorted(tuple(weight.shape) for weight in build_generator(architecture).weights) == shapes:
            return architecture
    return None


def build_generator_v1(name="generator", image_shape=(None, None, 3)):
    """AnimeGAN v1 generator, 3,956,099 parameters (SPEC: about 3.96 M)."""
    photo = keras.Input(shape=image_shape, name="photo")
    # b1: full resolution, then to 1/2
    x = _conv_norm_lrelu(photo, 64, "b1_conv1")
    x = _conv_norm_lrelu(x, 64, "b1_conv2")
    x = layers.Add(name="b1_down")(
        [_separable_conv(x, 128, "b1_sep_s2", strides=2), _downsample(x, 128, "b1_downsample")]
    )
    # b2: 1/2, then to 1/4
    x = _conv_norm_lrelu(x, 128, "b2_conv1")
    x = _separable_conv(x, 128, "b2_sep1")
    x = layers.Add(name="b2_down")(
        [_separable_conv(x, 256, "b2_sep_s2", strides=2), _downsample(x, 256, "b2_downsample")]
    )
    # m: eight inverted residual blocks at 1/4
    x = _conv_norm_lrelu(x, 256, "m_conv1")
    for index in range(1, 9):
        x = _inverted_residual(x, f"m_ir{index}")
    x = _conv_norm_lrelu(x, 256, "m_conv2")
    # u2: back to 1/2
    x = _upsample(x, 128, "u2_upsample")
    x = _separable_conv(x, 128, "u2_sep1")
    x = _conv_norm_lrelu(x, 128, "u2_conv1")
    # u1: back to full resolution
    x = _upsample(x, 128, "u1_upsample")
    x = _conv_norm_lrelu(x, 64, "u1_conv1")
    x = _conv_norm_lrelu(x, 64, "u1_conv2")
    # out: 1x1 to RGB (v1 keeps a bias here), tanh to [-1, 1]
    x = layers.Conv2D(3, 1, name="out_conv")(x)
    fake = layers.Activation("tanh", name="out_tanh", dtype=output_dtype())(x)
    return keras.Model(photo, fake, name=name)


_BUILDERS = {"animegan_v1": build_generator_v1, "animegan_v2": build_generator_v2}  # GENERATORS
_OUTPUT_LAYERS = {"animegan_v1": "out_conv", "animegan_v2": "out_layer_conv"}


def generator_architecture(generator):
    """Which of `GENERATORS` a built or loaded generator is, known by its output layer's name."""
    names = {layer.name for layer in generator.layers}
    for architecture, output_layer in _OUTPUT_LAYERS.items():
        if output_layer in names:
            return architecture
    raise ValueError(f"{generator.name}: not one of the generators {GENERATORS}")


def _spectral_conv(x, filters, name, strides=1):
    """Zero-padded 3x3 bias-free conv with spectral normalisation and N(0, 0.02) init."""
    x = layers.ZeroPadding2D(1, name=f"{name}_pad")(x)
    conv = layers.Conv2D(
        filters,
        3,
        strides=strides,
        use_bias=False,
        kernel_initializer=keras.initializers.RandomNormal(stddev=0.02),
        name=f"{name}_conv",
    )
    return layers.SpectralNormalization(conv, power_iterations=1, name=name)(x)


def build_discriminator(name="discriminator", base_channels=32):
    """AnimeGAN v1 patch discriminator, 1,128,800 trainable parameters (SPEC: about 1.13 M).

    Input: images in [-1, 1], (B, H, W, 3). Output: raw LSGAN scores (B, H/4, W/4, 1), float32
    (float64 under a float64 dtype policy: `layers.output_dtype`).
    """
    image = keras.Input(shape=(None, None, 3), name="image")
    x = _spectral_conv(image, base_channels, "d_conv_0")
    x = layers.LeakyReLU(negative_slope=LEAKY_SLOPE, name="d_conv_0_lrelu")(x)
    channels = base_channels
    for index in (1, 2):
        x = _spectral_conv(x, channels * 2, f"d_conv_s2_{index}", strides=2)
        x = layers.LeakyReLU(negative_slope=LEAKY_SLOPE, name=f"d_conv_s2_{index}_lrelu")(x)
        x = _spectral_conv(x, channels * 4, f"d_conv_s1_{index}")
        x = _norm_lrelu(x, f"d_conv_s1_{index}")
        channels *= 2
    x = _spectral_conv(x, channels * 2, "d_last")
    x = _norm_lrelu(x, "d_last")
    x = _spectral_conv(x, 1, "d_logit")
    logits = layers.Activation("linear", name="d_logit_out", dtype=output_dtype())(x)
    return keras.Model(image, logits, name=name)
