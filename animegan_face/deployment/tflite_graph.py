"""The generator rewritten for TFLite: the same layers and weights, with the three layer kinds that
LiteRT ran slowly written in ops that its CPU delegate (XNNPACK) and its GPU delegate take.

Used by export.py for TFLite only; the Keras networks (and so training) are untouched. Measured with
`bench/tflite_ops.py` on the files export.py wrote before (random weights, 256 px):

    GroupNormalization  Keras reshapes to groups, (1, H, W, C, 1) for instance norm, and averages
                        over axes (1, 2, 4): MEAN took 33 % of v1's time, and the run-time
                        reshapes split XNNPACK's graph (v1: 102 partitions). Here the statistics
                        are means over axes (1, 2) (instance norm) or (1, 2, 3) (layer norm) of the
                        4-D tensor itself, and the normalisation is `norm_for_export`.
    ReflectionPad2D     MIRROR_PAD, which XNNPACK does not take, on TFLite's reference kernel:
                        29 % of v1's time, 38 % of v2's. Here: slices of the edge rows and columns
                        concatenated around the tensor (`reflection_pad_for_export`).
    Resize2D(0.5)       half-pixel bilinear halving of an even size is exactly a 2x2 average pool
                        (`downsample_for_export`), which needs no run-time size.

Example:
    graph = tflite_graph(generator)   # a keras.Model sharing generator's variables
    graph(photos)                     # = generator(photos) to float32 rounding
"""

import keras
from keras import layers, ops

from animegan_face.models.layers import ReflectionPad2D, Resize2D


def norm_for_export(norm, x):
    """`GroupNormalization` with one group per channel (instance norm) or one group (layer norm), on
    a 4-D (B, H, W, C) tensor without regrouping it:

        mean = average of x over the group's axes, variance = average of (x - mean)^2 over them,
        y = x * s + (beta - mean * s), with s = gamma * rsqrt(variance + epsilon),

    the formula of Keras' layer (and of tf.nn.moments inside it) on the same numbers, summed in
    another order only. Other group counts are not rewritten (ValueError).
    """
    channels = x.shape[-1]
    groups = channels if norm.groups == -1 else norm.groups
    if groups == channels:
        axes = (1, 2)
    elif groups == 1:
        axes = (1, 2, 3)
    else:
        raise ValueError(f"{norm.name}: only instance or layer norm is rewritten, not "
                         f"{groups} groups of {channels} channels")
    # Statistics in float32 at least, as Keras' layer takes them (bfloat16 sums would drift).
    dtype = x.dtype
    x = ops.cast(x, keras.backend.result_type(dtype, "float32"))
    mean = ops.mean(x, axis=axes, keepdims=True)
    # The converter makes this one SQUARED_DIFFERENCE, which XNNPACK takes: one pass over x.
    variance = ops.mean(ops.square(x - mean), axis=axes, keepdims=True)
    scale = ops.rsqrt(variance + norm.epsilon)
    if norm.scale:  # (C,) broadcasts against (1, 1, 1, C): no RESHAPE op left in the file
        scale = scale * norm.gamma
    shift = norm.beta - mean * scale if norm.center else -mean * scale
    return ops.cast(x * scale + shift, dtype)


def reflection_pad_for_export(pad, x):
    """`ReflectionPad2D` as slices and concatenations (STRIDED_SLICE, CONCATENATION), which take
    negative, size-free indices: row H + j of the padded tensor is row H - 2 - j of x."""
    top, bottom, left, right = pad.padding
    for axis, before, after in ((1, top, bottom), (2, left, right)):
        def slab(start, stop, axis=axis):
            index = [slice(None)] * 4
            index[axis] = slice(start, stop)
            return x[tuple(index)]
        above = [slab(i, i + 1) for i in range(before, 0, -1)]
        below = [slab(-1 - i, -i) for i in range(1, after + 1)]
        # XNNPACK left a 7-input CONCATENATION (v2's 7x7 padding) to the reference kernel; the
        # edge slabs are joined first, so that the full-size copy has 3 inputs at most.
        parts = [_join(side, axis) if side else None for side in (above, below)]
        parts = [part for part in (parts[0], x, parts[1]) if part is not None]
        x = ops.concatenate(parts, axis=axis) if len(parts) > 1 else x
    return x


def _join(slabs, axis):
    return ops.concatenate(slabs, axis=axis) if len(slabs) > 1 else slabs[0]


def downsample_for_export(resize, x):
    """`Resize2D(0.5)`, half-pixel centres: output pixel i samples input position 2i + 0.5, the mean
    of pixels 2i and 2i + 1 in each direction, so for even sizes (the generators need multiples of
    4) it is a 2x2 average pool with stride 2."""
    if resize.scale != 0.5 or resize.align_corners:
        raise ValueError(f"{resize.name}: only half-pixel halving is rewritten")
    return ops.average_pool(x, pool_size=2, strides=2, padding="valid")


class _Rewritten(layers.Layer):
    """Calls `rewrite(original, x)` in place of `original(x)`; tracks `original`, so the model
    holds (and an export archive saves) the same variables."""

    def __init__(self, original, rewrite):
        super().__init__(name=f"{original.name}_for_export", dtype=original.dtype_policy)
        self.original = original
        self.rewrite = rewrite

    def call(self, x):
        return self.rewrite(self.original, x)

    def compute_output_shape(self, input_shape):
        return self.original.compute_output_shape(input_shape)


def _call_for_export(layer, *args, **kwargs):
    if isinstance(layer, layers.GroupNormalization):
        return _Rewritten(layer, norm_for_export)(*args, **kwargs)
    if isinstance(layer, ReflectionPad2D):
        return _Rewritten(layer, reflection_pad_for_export)(*args, **kwargs)
    if isinstance(layer, Resize2D) and layer.scale == 0.5 and not layer.align_corners:
        return _Rewritten(layer, downsample_for_export)(*args, **kwargs)
    return layer(*args, **kwargs)


def tflite_graph(generator):
    """A functional model over the generator's own layers and variables (nothing copied), with the
    layers above rewritten; its outputs equal the generator's to float32 rounding
    (tests/test_tflite_graph.py)."""
    return keras.models.clone_model(generator, clone_function=lambda layer: layer,
                                    call_function=_call_for_export)
