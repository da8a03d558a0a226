"""Where a .tflite file's time goes under LiteRT, op type by op type, and which ops XNNPACK takes.

    python bench/tflite_ops.py --model=exports/generator_float32.tflite --size=256
    python bench/tflite_ops.py --generators=animegan_v1,animegan_v2 --size=256   # exports first

ai-edge-litert 2.3.0's Python interpreter has no op profiler (benchmark_model's
--enable_op_profiling is C++ only), so every operator of the graph is cut out into a model of its
own, with the tensor shapes it sees at --size and, for its integer inputs (shapes, sizes) and
inputs computed from constants only (float16 weights after DEQUANTIZE), the values it sees, and
is timed alone with the same interpreter settings as the whole file (XNNPACK by default,
`os.cpu_count()` threads). An op XNNPACK does not take in its one-op model runs on TFLite's
builtin kernel; in the whole file it then also splits XNNPACK's graph into partitions, whose
count is printed, and so are the ops the GPU delegate's rules refuse (`gpu_compatibility.py`).
Shares of the summed op time are robust to a busy machine; the sum next to the whole file's time
(measured in the same process) says how much partitioning and per-call overhead the one-op models
miss.
"""

import collections
import copy
import os
import pathlib
import sys
import tempfile
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

import flatbuffers  # noqa: E402
import numpy as np  # noqa: E402
from absl import app, flags  # noqa: E402
from ai_edge_litert import schema_py_generated as schema  # noqa: E402
from ai_edge_litert.interpreter import Interpreter, OpResolverType  # noqa: E402

from animegan_face.deployment.gpu_compatibility import gpu_rejections  # noqa: E402

flags.DEFINE_list("model", [], ".tflite files to profile.")
flags.DEFINE_list("generators", [], "Or: export these generators (random weights, float32 and "
                  "float16) with export.py's code and profile those files.")
flags.DEFINE_integer("input_size", 0, "With --generators: export for this fixed size (0: free).")
flags.DEFINE_integer("size", 256, "Square input size.")
flags.DEFINE_integer("runs", 5, "Timed calls per op (median).")
flags.DEFINE_integer("top", 12, "Op types listed.")
flags.DEFINE_integer("top_ops", 0, "Also list this many single ops, slowest first, with shapes.")
flags.DEFINE_bool("versus_tensorflow", False, "In that list, time each CONV_2D in TensorFlow "
                  "(tf.nn.conv2d, same shapes and weights) too, interleaved, and print the ratio.")
flags.DEFINE_integer("threads", 0, "Threads for LiteRT and, with --versus_tensorflow, TensorFlow "
                     "(0: os.cpu_count()).")
FLAGS = flags.FLAGS

_NAMES = {value: name for name, value in vars(schema.BuiltinOperator).items()
          if not name.startswith("_")}


def _interpreter(content, threads=None, delegates=True, preserve=False):
    from animegan_face.deployment.inference import native_stderr_only_on_error

    resolver = (OpResolverType.AUTO if delegates
                else OpResolverType.BUILTIN_WITHOUT_DEFAULT_DELEGATES)
    with native_stderr_only_on_error():
        return Interpreter(model_content=content, num_threads=threads or os.cpu_count(),
                           experimental_op_resolver_type=resolver,
                           experimental_preserve_all_tensors=preserve)


def _serialise(model):
    builder = flatbuffers.Builder(1024)
    builder.Finish(model.Pack(builder), file_identifier=b"TFL3")
    return bytes(builder.Output())


def _values(content, size):
    """Every tensor's value at `size` (builtin kernels, intermediates kept), for shapes and ints."""
    interpreter = _interpreter(content, delegates=False, preserve=True)
    image = interpreter.get_input_details()[0]
    shape = (1, size, size, int(image["shape"][-1]))
    interpreter.resize_tensor_input(image["index"], shape)
    interpreter.allocate_tensors()
    interpreter.set_tensor(image["index"],
                           np.random.default_rng(0).uniform(-1, 1, shape).astype(np.float32))
    interpreter.invoke()
    values = {}
    for detail in interpreter.get_tensor_details():
        try:
            values[detail["index"]] = interpreter.get_tensor(detail["index"])
        except ValueError:  # a tensor without data (an unused optional input)
            pass
    return values


def _one_op_models(content, size):
    """(op name, description, one-op flatbuffer) for every op of subgraph 0 not computed from
    constants alone (those run once, at the first call)."""
    model = schema.ModelT.InitFromPackedBuf(content, 0)
    graph = model.subgraphs[0]
    values = _values(content, size)
    static = {i for i, t in enumerate(graph.tensors)
              if model.buffers[t.buffer].data is not None and len(model.buffers[t.buffer].data)}
    for op in graph.operators:  # topological order
        if all(i in static for i in op.inputs if i >= 0):
            static.update(op.outputs)
    for index, op in enumerate(graph.operators):
        if all(i in static for i in op.inputs if i >= 0):
            continue
        code = model.operatorCodes[op.opcodeIndex]
        name = _NAMES.get(max(code.builtinCode, code.deprecatedBuiltinCode), "CUSTOM")
        tensors, buffers, remap, inputs = [], [schema.BufferT()], {}, []
        for i in [i for i in op.inputs if i >= 0] + list(op.outputs):
            if i in remap:
                continue
            tensor = copy.copy(graph.tensors[i])
            value = values[i]
            tensor.shape, tensor.shapeSignature, tensor.buffer = list(value.shape), None, 0
            is_input = i in op.inputs and i not in op.outputs
            if is_input and (i in static or not np.issubdtype(value.dtype, np.floating)):
                # a constant keeps its stored bytes (float16 weights stay float16); a value
                # computed from constants or an integer (a shape, a size) is stored as seen
                stored = model.buffers[graph.tensors[i].buffer].data
                data = stored if stored is not None and len(stored) else value
                buffers.append(schema.BufferT(
                    data=np.frombuffer(np.ascontiguousarray(data).tobytes(), np.uint8)))
                tensor.buffer = len(buffers) - 1
            elif is_input:
                inputs.append(len(tensors))
            remap[i] = len(tensors)
            tensors.append(tensor)
        one = schema.OperatorT()
        one.opcodeIndex = 0
        one.builtinOptionsType, one.builtinOptions = op.builtinOptionsType, op.builtinOptions
        one.inputs = [remap[i] if i >= 0 else -1 for i in op.inputs]
        one.outputs = [remap[i] for i in op.outputs]
        sub = schema.SubGraphT()
        sub.tensors, sub.operators, sub.inputs, sub.outputs = tensors, [one], inputs, one.outputs
        single = schema.ModelT()
        single.version, single.operatorCodes = 3, [code]
        single.subgraphs, single.buffers = [sub], buffers
        shapes = " ".join("x".join(map(str, values[i].shape)) for i in op.inputs[:2] if i >= 0)
        yield name, f"#{index} {name} {shapes}", _serialise(single)


def _median_call(interpreter, runs, other=None):
    """Median seconds of interpreter.invoke(); with `other` (a callable), the medians of both,
    called in turn."""
    for detail in interpreter.get_input_details():
        interpreter.set_tensor(detail["index"], np.random.default_rng(0).uniform(
            -1, 1, detail["shape"]).astype(detail["dtype"]))
    calls = [interpreter.invoke] + ([other] if other else [])
    times = [[] for _ in calls]
    for call in calls:
        call()  # warm-up
    for _ in range(runs):
        for call, spent in zip(calls, times):
            started = time.perf_counter()
            call()
            spent.append(time.perf_counter() - started)
    medians = [float(np.median(spent)) for spent in times]
    return medians if other else medians[0]


def _tensorflow_conv(single):
    """The one CONV_2D of a one-op model as a TensorFlow call on the same shapes and weights (the
    bias, if any, left out: one add per output value)."""
    import tensorflow as tf

    graph = schema.ModelT.InitFromPackedBuf(single, 0).subgraphs[0]
    op = graph.operators[0]
    interpreter = _interpreter(single)
    interpreter.allocate_tensors()
    kernel = interpreter.get_tensor(op.inputs[1])  # a constant of the one-op model
    image = tf.constant(np.random.default_rng(0).uniform(-1, 1, graph.tensors[op.inputs[0]].shape),
                        tf.float32)
    kernel = tf.constant(kernel.transpose(1, 2, 3, 0))  # (O, H, W, I) -> (H, W, I, O)
    options = op.builtinOptions
    padding = "SAME" if options.padding == schema.Padding.SAME else "VALID"
    conv = tf.function(lambda: tf.nn.conv2d(image, kernel, (options.strideH, options.strideW),
                                            padding, dilations=(options.dilationHFactor,
                                                                options.dilationWFactor)))
    return lambda: conv().numpy()


def profile(content, size, runs, threads=None, versus_tensorflow=False):
    """{op name: [count, count XNNPACK took, seconds]}, the whole file's seconds, partitions,
    [(seconds, op described)]."""
    table = collections.defaultdict(lambda: [0, 0, 0.0])
    single_ops = []
    for name, described, single in _one_op_models(content, size):
        interpreter = _interpreter(single, threads)
        interpreter.allocate_tensors()
        took = any(op["op_name"] == "DELEGATE" for op in interpreter._get_ops_details())
        row = table[name]
        row[0] += 1
        row[1] += took
        if versus_tensorflow and name == "CONV_2D":
            seconds, tensorflow = _median_call(interpreter, runs, _tensorflow_conv(single))
            described += (f"  TensorFlow {1000 * tensorflow:.1f} ms, LiteRT / TensorFlow "
                          f"{seconds / tensorflow:.2f}")
        else:
            seconds = _median_call(interpreter, runs)
        row[2] += seconds
        single_ops.append((seconds, described + ("" if took else " (not XNNPACK)")))
    whole = _interpreter(content, threads)
    image = whole.get_input_details()[0]
    whole.resize_tensor_input(image["index"], (1, size, size, int(image["shape"][-1])))
    whole.allocate_tensors()
    partitions = sum(op["op_name"] == "DELEGATE" for op in whole._get_ops_details())
    return dict(table), _median_call(whole, runs), partitions, single_ops


def report(label, content, size, runs, top, top_ops=0, threads=None, versus_tensorflow=False):
    table, whole, partitions, single_ops = profile(content, size, runs, threads, versus_tensorflow)
    total = sum(row[2] for row in table.values())
    print(f"\n{label} at {size}x{size}: whole file {1000 * whole:.0f} ms, its ops one by one "
          f"{1000 * total:.0f} ms; {partitions} XNNPACK partitions")
    print("| op | count | XNNPACK took | ms | share |")
    print("| --- | --- | --- | --- | --- |")
    ordered = sorted(table.items(), key=lambda item: -item[1][2])
    for name, (count, took, seconds) in ordered[:top]:
        print(f"| {name} | {count} | {took} | {1000 * seconds:.1f} | "
              f"{100 * seconds / total:.1f} % |")
    rest = ordered[top:]
    if rest:
        seconds = sum(row[2] for _, row in rest)
        print(f"| {len(rest)} other types | {sum(row[0] for _, row in rest)} | "
              f"{sum(row[1] for _, row in rest)} | {1000 * seconds:.1f} | "
              f"{100 * seconds / total:.1f} % |")
    for seconds, described in sorted(single_ops, reverse=True)[:top_ops]:
        print(f"  {1000 * seconds:7.1f} ms {100 * seconds / total:5.1f} %  {described}")
    refused = collections.Counter((op, reason) for _, op, reason in gpu_rejections(content))
    print("GPU delegate's rules (animegan_face/deployment/gpu_compatibility.py): " + (
        "; ".join(f"{count} x {op}: {reason}" for (op, reason), count in refused.items())
        or "every op accepted"))


def main(argv):
    del argv
    if FLAGS.threads and FLAGS.versus_tensorflow:
        import tensorflow as tf

        tf.config.threading.set_intra_op_parallelism_threads(FLAGS.threads)
        tf.config.threading.set_inter_op_parallelism_threads(1)
    for path in FLAGS.model:
        report(path, pathlib.Path(path).read_bytes(), FLAGS.size, FLAGS.runs, FLAGS.top,
               FLAGS.top_ops, FLAGS.threads, FLAGS.versus_tensorflow)
    if FLAGS.generators:
        from animegan_face.deployment import export
        from animegan_face.models.networks import build_generator

        for architecture in FLAGS.generators:
            generator = build_generator(architecture)
            for quantize in ("none", "float16"):
                content = export.tflite_bytes(generator, quantize, FLAGS.input_size or None)
                report(f"{architecture} {quantize}", content, FLAGS.size, FLAGS.runs, FLAGS.top,
                       FLAGS.top_ops, FLAGS.threads, FLAGS.versus_tensorflow)


if __name__ == "__main__":
    app.run(main)
