"""The AnimeGANv2 generator (Chen et al. 2020), the lighter option: 2.14 M parameters against v1's
3.96 M (8.2 against 15.1 MiB as float32 TFLite), 52.6 against 62.1 GFLOP per 256x256 image,
layer norm instead of instance norm.

Its layers and their order are those of the PyTorch port the community runs
(bryandlee/animegan2-pytorch, whose published weights include face-portrait models), so that its
state dicts convert one to one (`animeganv2_weights.py`). Layer names follow that port's module
paths with dots as underscores: `block_c_1_dw_conv` is `block_c.1.layers.1.1`, `block_a_0_norm`
is `block_a.0.2`, `out_layer_conv` is `out_layer.0`.

    block_a  ConvNormLReLU 7x7 32, 3x3 64 stride 2, 3x3 64              (1/2)
    block_b  3x3 128 stride 2, 3x3 128                                  (1/4)
    block_c  3x3 128, 4 inverted residual blocks (128->256, 256x3), 3x3 128
    block_d  bilinear x2 (aligned corners), 3x3 128, 3x3 128           (1/2)
    block_e  bilinear x2 (aligned corners), 3x3 64, 3x3 64, 7x7 32     (1)
    out      1x1 conv to RGB (no bias), tanh

ConvNormLReLU = reflection padding, bias-free conv, layer norm (GroupNorm with one group, eps
1e-5, per-channel scale and shift), LeakyReLU(0.2). Inverted residual block = 1x1 expand x2,
depthwise 3x3 (with bias), 1x1 project, layer norm; identity shortcut when in == out channels.

Example:
    generator = build_generator_v2()
    fake = generator(photos)   # (B, H, W, 3) in [-1, 1], H and W multiples of 4
"""

import keras
from keras import layers

from animegan_face.models.layers import LEAKY_SLOPE, ReflectionPad2D, Resize2D, output_dtype

_EPSILON = 1e-5  # torch.nn.GroupNorm's


def _layer_norm(name):
    return layers.GroupNormalization(groups=1, epsilon=_EPSILON, name=name)


def _conv_norm_lrelu(x, filters, name, kernel_size=3, strides=1, depthwise=False):
    """Reflect-padded conv, layer norm, LeakyReLU(0.2). Stride 2 pads bottom/right only."""
    if strides == 2:
        padding = (0, 1, 0, 1)
    else:
        half = kernel_size // 2
        padding = (half, half, half, half)
    if any(padding):
        x = ReflectionPad2D(padding, name=f"{name}_pad")(x)
    if depthwise:
        x = layers.DepthwiseConv2D(kernel_size, strides=strides, use_bias=True, name=f"{name}_conv")(x)
    else:
        x = layers.Conv2D(filters, kernel_size, strides=strides, use_bias=False, name=f"{name}_conv")(x)
    x = _layer_norm(f"{name}_norm")(x)
    return layers.LeakyReLU(negative_slope=LEAKY_SLOPE, name=f"{name}_lrelu")(x)


def _inverted_residual(x, filters, name, expansion=2):
    channels = x.shape[-1]
    y = _conv_norm_lrelu(x, channels * expansion, f"{name}_expand", kernel_size=1)
    y = _conv_norm_lrelu(y, None, f"{name}_dw", depthwise=True)
    y = layers.Conv2D(filters, 1, use_bias=False, name=f"{name}_project_conv")(y)
    y = _layer_norm(f"{name}_project_norm")(y)
    return layers.Add(name=f"{name}_add")([x, y]) if channels == filters else y


def build_generator_v2(name="generator", image_shape=(None, None, 3)):
    """AnimeGANv2 generator, 2,143,552 parameters (SPEC: 2.14 M).

    Input and output: float images in [-1, 1], shape (B, H, W, 3), H and W divisible by 4.
    """
    photo = keras.Input(shape=image_shape, name="photo")
    x = _conv_norm_lrelu(photo, 32, "block_a_0", kernel_size=7)
    x = _conv_norm_lrelu(x, 64, "block_a_1", strides=2)
    x = _conv_norm_lrelu(x, 64, "block_a_2")
    x = _conv_norm_lrelu(x, 128, "block_b_0", strides=2)
    x = _conv_norm_lrelu(x, 128, "block_b_1")
    x = _conv_norm_lrelu(x, 128, "block_c_0")
    for index, filters in enumerate((256, 256, 256, 256), start=1):
        x = _inverted_residual(x, filters, f"block_c_{index}")
    x = _conv_norm_lrelu(x, 128, "block_c_5")
    x = Resize2D(2.0, align_corners=True, name="block_d_resize")(x)
    x = _conv_norm_lrelu(x, 128, "block_d_0")
    x = _conv_norm_lrelu(x, 128, "block_d_1")
    x = Resize2D(2.0, align_corners=True, name="block_e_resize")(x)
    x = _conv_norm_lrelu(x, 64, "block_e_0")
    x = _conv_norm_lrelu(x, 64, "block_e_1")
    x = _conv_norm_lrelu(x, 32, "block_e_2", kernel_size=7)
    x = layers.Conv2D(3, 1, use_bias=False, name="out_layer_conv")(x)
    fake = layers.Activation("tanh", name="out_layer_tanh", dtype=output_dtype())(x)
    return keras.Model(photo, fake, name=name)
