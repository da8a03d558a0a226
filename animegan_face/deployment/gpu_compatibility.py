"""Which ops of a .tflite file LiteRT's GPU delegate would refuse, by the delegate's own rules.

`tf.lite.experimental.Analyzer.analyze(..., gpu_compatibility=True)` no longer checks anything: its
checks were removed from TensorFlow's model analyzer in 2024 (tensorflow/tensorflow#77042), and in
TensorFlow 2.21 and ai-edge-litert 2.3.0 it calls any file compatible (measured: a file of CUMSUM,
MIRROR_PAD and an int64 ARG_MAX). This module applies, to the ops these generators' files contain,
the rules that analyzer used to apply (TensorFlow's `lite/tools/versioning/gpu_compatibility.cc`,
which the GPU delegate also checks when it partitions a graph), plus the delegate's need for
float tensors. An op type it has no rule for is reported as unknown, not as accepted.

Example:
    flatbuffer = pathlib.Path("generator_256_float16.tflite").read_bytes()
    for index, op, reason in gpu_rejections(flatbuffer):
        print(index, op, reason)
"""

from ai_edge_litert import schema_py_generated as schema

_NAMES = {value: name for name, value in vars(schema.BuiltinOperator).items()
          if not name.startswith("_")}
_FLOATS = {schema.TensorType.FLOAT32, schema.TensorType.FLOAT16}
# Fused activations the GPU delegate implements (IsActivationSupported); SIGN_BIT is not one.
_ACTIVATIONS = {schema.ActivationFunctionType.NONE, schema.ActivationFunctionType.RELU,
                schema.ActivationFunctionType.RELU_N1_TO_1, schema.ActivationFunctionType.RELU6,
                schema.ActivationFunctionType.TANH}
# Elementwise ops of one runtime input and no constant one.
_UNARY = {"ABS", "CEIL", "COS", "ELU", "EXP", "FLOOR", "GELU", "LOG", "LOGISTIC", "NEG", "RSQRT",
          "SIGN", "SIN", "SQRT", "SQUARE", "TANH"}
# Elementwise ops of two runtime inputs, or one runtime and one constant.
_BINARY = {"DIV", "MAXIMUM", "MINIMUM", "POW", "SQUARED_DIFFERENCE", "SUB"}
_ANY_INPUTS = {"CONCATENATION", "LEAKY_RELU", "RELU", "RELU6", "PACK", "SPLIT", "SPLIT_V"}


def gpu_rejections(flatbuffer):
    """[(op index, op name, reason)] for every op of the first subgraph the GPU delegate would
    leave to the CPU; an empty list when it would take the whole graph."""
    model = schema.ModelT.InitFromPackedBuf(flatbuffer, 0)
    graph = model.subgraphs[0]

    constants = {i for i, tensor in enumerate(graph.tensors)
                 if model.buffers[tensor.buffer].data is not None
                 and len(model.buffers[tensor.buffer].data)}
    rejections = []
    for index, op in enumerate(graph.operators):
        code = model.operatorCodes[op.opcodeIndex]
        name = _NAMES.get(max(code.builtinCode, code.deprecatedBuiltinCode), "CUSTOM")
        inputs = [i for i in op.inputs if i >= 0]
        if name == "DEQUANTIZE" and graph.tensors[inputs[0]].type == schema.TensorType.FLOAT16 \
                and inputs[0] in constants:
            # float16 weights: the delegate reads them in place of DEQUANTIZE's output
            constants.update(op.outputs)
            continue
        runtime = [i for i in inputs if i not in constants]
        reason = _reason(name, op, graph, inputs, runtime, constants.__contains__)
        if not reason and name != "CAST" and any(
                graph.tensors[i].type not in _FLOATS for i in runtime + list(op.outputs)):
            reason = "integer tensors (the GPU delegate computes in floats only)"
        if reason:
            rejections.append((index, name, reason))
    return rejections


def _reason(name, op, graph, inputs, runtime, constant):
    """Why the GPU delegate's rule for this op type refuses it, or None."""
    tensors = graph.tensors
    options = op.builtinOptions
    activation = getattr(options, "fusedActivationFunction", schema.ActivationFunctionType.NONE)
    if activation not in _ACTIVATIONS:
        return f"fused activation {activation}"
    if name in _UNARY:
        return None if len(runtime) == 1 and len(inputs) == 1 else "needs one runtime input only"
    if name in _BINARY:
        if len(inputs) != 2 or not runtime:
            return "needs two inputs, one of them at run time"
        return None
    if name in _ANY_INPUTS:
        return None
    if name in ("ADD", "MUL"):
        if len(inputs) != 2:
            return f"{name} needs two inputs"
        first, second = (list(_dims(tensors[i])) for i in inputs)
        if name == "MUL" and len(first) == len(second) and -1 not in first + second \
                and any(a < b for a, b in zip(first, second)) \
                and any(b < a for a, b in zip(first, second)):
            return "MUL of two tensors each smaller than the other in some dimension"
        return None
    if name in ("CONV_2D", "DEPTHWISE_CONV_2D"):
        if len(runtime) > 2:
            return "more than 2 runtime inputs"
        if name == "DEPTHWISE_CONV_2D" and options.depthMultiplier != 1 \
                and tensors[inputs[0]].shape[3] != 1:
            return "depth multiplier other than 1"
        return None
    if name in ("AVERAGE_POOL_2D", "MAX_POOL_2D"):
        return None if len(runtime) == 1 else "needs one runtime input"
    if name in ("MEAN", "SUM", "REDUCE_MAX", "REDUCE_MIN", "REDUCE_PROD"):
        axes = inputs[1]
        if len(runtime) != 1 or not constant(axes) or tensors[axes].type != schema.TensorType.INT32:
            return "axes must be a constant int32 tensor"
        return None
    if name in ("RESHAPE", "RESIZE_BILINEAR", "RESIZE_NEAREST_NEIGHBOR", "TILE", "TRANSPOSE",
                "DEPTH_TO_SPACE", "SPACE_TO_DEPTH"):
        if len(runtime) != 1:
            return "its shape or size input is computed at run time (must be a constant)"
        if name == "RESIZE_BILINEAR" and options.alignCorners and options.halfPixelCenters:
            return "align_corners and half_pixel_centers together"
        return None
    if name in ("PAD", "PADV2", "MIRROR_PAD"):
        if name == "MIRROR_PAD" and options.mode != schema.MirrorPadMode.REFLECT:
            return "only REFLECT mirror padding"
        return None if len(runtime) == 1 else "its paddings are computed at run time"
    if name in ("SLICE", "STRIDED_SLICE"):
        if len(tensors[inputs[0]].shape) not in (3, 4):
            return "slices of 3-D or 4-D tensors only"
        if name == "STRIDED_SLICE" and (options.ellipsisMask or options.newAxisMask
                                        or options.shrinkAxisMask):
            return "ellipsis, new-axis or shrink-axis masks"
        return None
    if name == "CAST":
        kinds = {tensors[inputs[0]].type, tensors[op.outputs[0]].type}
        ints = {schema.TensorType.FLOAT32, schema.TensorType.INT32}
        return None if len(runtime) == 1 and kinds <= ints else "cast between these types"
    if name == "DEQUANTIZE":
        return "int16 input" if tensors[inputs[0]].type == schema.TensorType.INT16 else None
    if name == "SHAPE":
        return "not an op the GPU delegate has"
    return "no rule here for this op (check the GPU delegate's list)"


def _dims(tensor):
    """A tensor's dimensions, -1 where free (the shape signature where the file has one)."""
    signature = tensor.shapeSignature
    if signature is not None and len(signature):
        return signature
    return [] if tensor.shape is None else tensor.shape  # None: a scalar
