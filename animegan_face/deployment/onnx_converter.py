"""The Keras generators as ONNX graphs, written node by node with `onnx.helper`.

tf2onnx goes through the TensorFlow graph (reflection padding as slices and concats, each resize
size computed from shape ops); this converter emits one or a few ONNX nodes per Keras layer, for
the layer types the two generators use (`networks.py`, `generator_v2.py`):

    Conv2D, DepthwiseConv2D, SeparableConv2D (padding "valid": the generators pad explicitly)
                                   -> Conv (depthwise: group = channels)
    ReflectionPad2D               -> Pad mode "reflect"
    Resize2D                      -> Resize "linear", half_pixel or align_corners, no antialias;
                                     halving (0.5, half_pixel) -> AveragePool 2x2, stride 2
    GroupNormalization            -> InstanceNormalization (one group per channel); other group
                                     counts reshape to (N, groups, -1) first, then scale and shift
                                     (BatchNormalization of mean 0, variance 1)
    LeakyReLU, Add, Activation    -> LeakyRelu, Add, Tanh
    GuidedFilter (output filter)  -> AveragePool (window cut at the border: count_include_pad 0),
                                     Mul, Sub, Add, Div

Any other layer, or one of these with a setting not listed (say a dilated conv), raises
UnsupportedLayerError naming it: nothing is skipped. The graph is NCHW inside (ONNX's Conv
layout), with one Transpose at each end.

Interface: `images` float32 (N, H, W, 3) RGB in [-1, 1] -> `stylised`, same shape. N is always
free; H and W are free (multiples of 4) unless `input_size` fixes them.

Example:
    model = generator_to_onnx(build_generator("animegan_v2"))
    onnx.save(model, "generator.onnx")
"""

import keras
import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

from animegan_face.models.layers import GuidedFilter, ReflectionPad2D, Resize2D

# Opset 17 (ONNX 1.12, 2022) has every op used here; nothing newer, so that older runtimes load it.
OPSET = 17
# The IR version of ONNX 1.12, the release that brought opset 17. helper.make_model would stamp the
# installed onnx package's newest IR (14 with onnx 1.23), which runtimes older than that
# package refuse: onnxruntime-web 1.31 (the in-browser page) reads IR 13 at most.
IR_VERSION = 8
INPUT_NAME, OUTPUT_NAME = "images", "stylised"


class UnsupportedLayerError(ValueError):
    """A layer (or a setting of it) this converter has no ONNX translation for."""


class _Graph:
    """The nodes and weights (initializers) being written."""

    def __init__(self):
        self.nodes, self.initializers = [], []

    def weight(self, name, array, dtype=np.float32):
        self.initializers.append(numpy_helper.from_array(np.asarray(array, dtype), name))
        return name

    def node(self, op_type, inputs, name, **attributes):
        self.nodes.append(helper.make_node(op_type, inputs, [name], name=name, **attributes))
        return name


def _require(layer, condition, setting):
    if not condition:
        raise UnsupportedLayerError(f"layer {layer.name!r} ({type(layer).__name__}): {setting} "
                                    "has no ONNX translation here")


def _check_conv(layer):
    _require(layer, layer.data_format == "channels_last", f"data_format {layer.data_format}")
    _require(layer, layer.padding == "valid", f"padding {layer.padding!r}")
    _require(layer, tuple(layer.dilation_rate) == (1, 1), f"dilation_rate {layer.dilation_rate}")
    _require(layer, layer.activation is keras.activations.linear,
             f"activation {layer.activation.__name__}")


def _conv(graph, name, x, kernel, bias, strides, group=1):
    """ONNX Conv of NCHW `x`; `kernel` already in ONNX's (out, in / group, kh, kw) layout."""
    inputs = [x, graph.weight(f"{name}/kernel", kernel)]
    if bias is not None:
        inputs.append(graph.weight(f"{name}/bias", bias))
    return graph.node("Conv", inputs, name, strides=list(strides), group=group,
                      kernel_shape=list(kernel.shape[2:]))


def _depthwise_kernel(kernel):
    """Keras (kh, kw, in, multiplier) -> ONNX (in * multiplier, 1, kh, kw): Keras output channel
    c * multiplier + m filters input channel c, and ONNX's group c holds exactly those outputs."""
    kh, kw, channels, multiplier = kernel.shape
    return kernel.transpose(2, 3, 0, 1).reshape(channels * multiplier, 1, kh, kw)


def _convert_conv2d(graph, layer, x):
    _check_conv(layer)
    _require(layer, layer.groups == 1, f"groups {layer.groups}")
    kernel = np.asarray(layer.kernel).transpose(3, 2, 0, 1)  # (kh, kw, in, out) -> (out, in, kh, kw)
    bias = np.asarray(layer.bias) if layer.use_bias else None
    return _conv(graph, layer.name, x, kernel, bias, layer.strides)


def _convert_depthwise_conv2d(graph, layer, x):
    _check_conv(layer)
    kernel = _depthwise_kernel(np.asarray(layer.kernel))
    bias = np.asarray(layer.bias) if layer.use_bias else None
    return _conv(graph, layer.name, x, kernel, bias, layer.strides, group=layer.kernel.shape[2])


def _convert_separable_conv2d(graph, layer, x):
    """Depthwise with the layer's strides, then a 1x1 pointwise conv with the layer's bias."""
    _check_conv(layer)
    depthwise = _depthwise_kernel(np.asarray(layer.depthwise_kernel))
    x = _conv(graph, f"{layer.name}/depthwise", x, depthwise, None, layer.strides,
              group=layer.depthwise_kernel.shape[2])
    pointwise = np.asarray(layer.pointwise_kernel).transpose(3, 2, 0, 1)
    bias = np.asarray(layer.bias) if layer.use_bias else None
    return _conv(graph, layer.name, x, pointwise, bias, (1, 1))


def _convert_group_normalization(graph, layer, x):
    """(x - mean) / sqrt(var + epsilon) * gamma + beta, mean and (biased) variance over H, W and
    the channels of each group, as Keras computes it."""
    _require(layer, layer.axis in (-1, 3), f"axis {layer.axis}")
    name, groups, channels = layer.name, layer.groups, layer.input.shape[-1]
    gamma = np.asarray(layer.gamma) if layer.scale else np.ones(channels)
    beta = np.asarray(layer.beta) if layer.center else np.zeros(channels)
    if groups == channels:  # instance norm: one ONNX op with the per-channel scale and shift
        scale_shift = [graph.weight(f"{name}/gamma", gamma), graph.weight(f"{name}/beta", beta)]
        return graph.node("InstanceNormalization", [x, *scale_shift], name, epsilon=layer.epsilon)
    # Contiguous channel groups: (N, C, H, W) -> (N, groups, C / groups * H * W), normalised per
    # row, back to (N, C, H, W), then the per-channel scale and shift.
    grouped_shape = graph.weight(f"{name}/grouped_shape", [0, groups, -1], np.int64)
    grouped = graph.node("Reshape", [x, grouped_shape], f"{name}/grouped")
    plain = [graph.weight(f"{name}/ones", np.ones(groups)),
             graph.weight(f"{name}/zeros", np.zeros(groups))]
    normalised = graph.node("InstanceNormalization", [grouped, *plain], f"{name}/normalised",
                            epsilon=layer.epsilon)
    shape = graph.node("Shape", [x], f"{name}/shape")
    x = graph.node("Reshape", [normalised, shape], f"{name}/ungrouped")
    # The per-channel scale and shift as a BatchNormalization of mean 0, variance 1, epsilon 0:
    # x * gamma + beta exactly, in one pass over x where Mul and Add take two (onnxruntime:
    # 0.74 against 1.43 ms at 32 x 256 x 256; bench/RESULTS.md).
    affine = [graph.weight(f"{name}/gamma", gamma), graph.weight(f"{name}/beta", beta),
              graph.weight(f"{name}/mean_0", np.zeros(channels)),
              graph.weight(f"{name}/variance_1", np.ones(channels))]
    return graph.node("BatchNormalization", [x, *affine], name, epsilon=0.0)


def _convert_leaky_relu(graph, layer, x):
    return graph.node("LeakyRelu", [x], layer.name, alpha=float(layer.negative_slope))


def _convert_activation(graph, layer, x):
    _require(layer, layer.activation is keras.activations.tanh,
             f"activation {layer.activation.__name__}")
    return graph.node("Tanh", [x], layer.name)


def _convert_add(graph, layer, *inputs):
    total = inputs[0]
    for index, addend in enumerate(inputs[1:], start=1):
        last = index == len(inputs) - 1
        total = graph.node("Add", [total, addend], layer.name if last else f"{layer.name}/{index}")
    return total


def _convert_reflection_pad(graph, layer, x):
    top, bottom, left, right = layer.padding
    pads = graph.weight(f"{layer.name}/pads", [0, 0, top, left, 0, 0, bottom, right], np.int64)
    return graph.node("Pad", [x, pads], layer.name, mode="reflect")


def _convert_resize(graph, layer, x):
    if layer.scale == 0.5 and not layer.align_corners:
        # Half-pixel halving of an even size (the generators' sizes are multiples of 4) samples
        # input position 2i + 0.5: the mean of each 2x2 block, which AveragePool computes in
        # onnxruntime's blocked (NCHWc) layout beside the convolutions, where Resize is a
        # general kernel in the plain layout (tflite_graph.py rewrites it the same way).
        return graph.node("AveragePool", [x], layer.name, kernel_shape=[2, 2], strides=[2, 2])
    return _resize(graph, layer, x)


def _resize(graph, layer, x):
    """Output size floor(H * scale) x floor(W * scale), as Resize2D's. Half-pixel: input position
    (i + 0.5) / scale - 0.5, which is tf.image.resize's (i + 0.5) * in / out - 0.5 for the even
    sizes the generators resize (H and W multiples of 4): upscaling by 2 blends the two nearest
    pixels 3:1, halving averages each 2x2 block. align_corners: i * (in - 1) / (out - 1) in both."""
    mode = "align_corners" if layer.align_corners else "half_pixel"
    scales = graph.weight(f"{layer.name}/scales", [1.0, 1.0, layer.scale, layer.scale])
    # "" for the unused roi input. Opset 17 Resize has no antialias: none, as in Resize2D.
    return graph.node("Resize", [x, "", scales], layer.name, mode="linear",
                      coordinate_transformation_mode=mode)


def _convert_guided_filter(graph, layer, x):
    """The self-guided filter of `layers.guided_filter`: box means are AveragePools of the (2r+1)^2
    window with r pixels of padding that the mean leaves out (count_include_pad 0, ONNX's
    default), so the window is cut at the border as `box_filter`'s."""
    radius, name = layer.radius, layer.name

    def box(value, tag):
        return graph.node("AveragePool", [value], f"{name}/{tag}", kernel_shape=[2 * radius + 1] * 2,
                          strides=[1, 1], pads=[radius] * 4, count_include_pad=0)

    def op(op_type, a, b, tag):
        return graph.node(op_type, [a, b], f"{name}/{tag}")

    mean = box(x, "mean")
    variance = op("Sub", box(op("Mul", x, x, "square"), "mean_square"),
                  op("Mul", mean, mean, "mean_squared"), "variance")
    epsilon = graph.weight(f"{name}/epsilon", np.float32(layer.epsilon))
    a = op("Div", variance, op("Add", variance, epsilon, "variance_epsilon"), "a")
    b = op("Sub", mean, op("Mul", a, mean, "a_mean"), "b")
    return graph.node("Add", [op("Mul", box(a, "mean_a"), x, "mean_a_x"), box(b, "mean_b")], name)


_CONVERTERS = {
    keras.layers.Conv2D: _convert_conv2d,
    keras.layers.DepthwiseConv2D: _convert_depthwise_conv2d,
    keras.layers.SeparableConv2D: _convert_separable_conv2d,
    keras.layers.GroupNormalization: _convert_group_normalization,
    keras.layers.LeakyReLU: _convert_leaky_relu,
    keras.layers.Activation: _convert_activation,
    keras.layers.Add: _convert_add,
    ReflectionPad2D: _convert_reflection_pad,
    Resize2D: _convert_resize,
    GuidedFilter: _convert_guided_filter,
}


def _calls_in(model):
    """ids of the layer calls (Keras nodes) between the model's inputs and outputs."""
    found, pending = set(), list(model.outputs)
    while pending:
        operation, node_index, _ = pending.pop()._keras_history
        node = operation._inbound_nodes[node_index]
        if id(node) not in found:
            found.add(id(node))
            pending.extend(node.input_tensors)
    return found


def _io_shapes(generator, input_size):
    """The declared input and output shapes: N free, H and W free or `input_size`; a free output
    H and W carry the input's names when the model keeps the size (the generators do)."""
    channels = generator.inputs[0].shape[-1]
    size = (input_size, input_size) if input_size else (16, 24)  # else a probe the generators take
    output = generator.compute_output_shape((None, *size, channels))
    if input_size:
        return ["batch", *size, channels], ["batch", *output[1:]]
    kept = tuple(output[1:3]) == size
    return (["batch", "height", "width", channels],
            ["batch", "height" if kept else None, "width" if kept else None, output[-1]])


def generator_to_onnx(generator, input_size=None):
    """An ONNX model (opset `OPSET`) computing `generator` (a functional Keras model of the layer
    types above, one image input, one output) in float32.

    Args:
        generator: e.g. `networks.build_generator("animegan_v1")`, with its weights.
        input_size: None for free H and W, or a side that fixes both.
    Raises:
        UnsupportedLayerError: naming the first layer (or layer setting) with no translation.
    """
    if len(generator.inputs) != 1 or len(generator.outputs) != 1:
        raise UnsupportedLayerError(f"{generator.name}: one input and one output expected")
    graph = _Graph()
    # Keras tensor -> ONNX value name; the graph is NCHW from here on.
    nchw = graph.node("Transpose", [INPUT_NAME], "to_nchw", perm=[0, 3, 1, 2])
    names = {id(generator.inputs[0]): nchw}
    own_calls = _calls_in(generator)
    for layer in generator.layers:  # topological order
        if isinstance(layer, keras.layers.InputLayer):
            continue
        converter = _CONVERTERS.get(type(layer))  # exact type: a subclass may compute otherwise
        if converter is None:
            raise UnsupportedLayerError(f"layer {layer.name!r}: no ONNX translation for "
                                        f"{type(layer).__name__} layers")
        # The layer's calls inside this model only: layer.input would give its first call anywhere,
        # and export.py's TFLite graph (tflite_graph.py) calls the same layer objects again.
        calls = [node for node in layer._inbound_nodes if id(node) in own_calls]
        if len(calls) != 1:
            raise UnsupportedLayerError(f"layer {layer.name!r}: called {len(calls)} times in "
                                        f"{generator.name}; a shared layer is not translated")
        [output] = calls[0].output_tensors
        names[id(output)] = converter(
            graph, layer, *[names[id(tensor)] for tensor in calls[0].input_tensors])
    graph.node("Transpose", [names[id(generator.outputs[0])]], OUTPUT_NAME, perm=[0, 2, 3, 1])

    input_shape, output_shape = _io_shapes(generator, input_size)
    model = helper.make_model(
        helper.make_graph(graph.nodes, generator.name,
                          [helper.make_tensor_value_info(INPUT_NAME, TensorProto.FLOAT, input_shape)],
                          [helper.make_tensor_value_info(OUTPUT_NAME, TensorProto.FLOAT, output_shape)],
                          graph.initializers),
        opset_imports=[helper.make_opsetid("", OPSET)], ir_version=IR_VERSION,
        producer_name="animegan_face",
        doc_string="images: float32 (N, H, W, 3) RGB in [-1, 1] -> stylised: same; H and W "
                   "multiples of 4")
    onnx.checker.check_model(model)
    return model
