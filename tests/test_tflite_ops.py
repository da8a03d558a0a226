"""bench/tflite_ops.py, the per-op profiler: every op that runs per call is cut out and timed,
XNNPACK's refusals are seen, and a one-op model computes what the op computes in the graph."""

import os
import sys

import numpy as np

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(REPO, "bench"))

import tflite_ops  # noqa: E402


def _flatbuffer():
    import tensorflow as tf

    kernel = tf.constant(np.random.default_rng(0).normal(size=(3, 3, 4, 8)).astype(np.float32))

    @tf.function(input_signature=[tf.TensorSpec((1, None, None, 4), tf.float32)])
    def graph(x):
        padded = tf.pad(x, [[0, 0], [1, 1], [1, 1], [0, 0]], mode="REFLECT")
        y = tf.nn.conv2d(padded, kernel, 1, "VALID")
        size = tf.shape(y)[1:3] * 2  # a run-time size: SHAPE, STRIDED_SLICE, MUL
        return tf.image.resize(y, size)

    return tf.lite.TFLiteConverter.from_concrete_functions(
        [graph.get_concrete_function()], graph).convert()


def test_profile_counts_every_op_and_sees_what_xnnpack_refuses():
    table, whole, partitions, single_ops = tflite_ops.profile(_flatbuffer(), 16, runs=1, threads=1)
    assert table["CONV_2D"][:2] == [1, 1]  # one op, XNNPACK took it
    assert table["MIRROR_PAD"][:2] == [1, 0]  # XNNPACK has no mirror padding
    assert sum(row[0] for row in table.values()) == len(single_ops)
    assert whole > 0 and partitions >= 1
    assert all(seconds > 0 for seconds, _ in single_ops)


def test_one_op_model_computes_what_the_op_computes_in_the_graph():
    content = _flatbuffer()
    values = tflite_ops._values(content, 16)
    for name, _, single in tflite_ops._one_op_models(content, 16):
        if name != "CONV_2D":
            continue
        interpreter = tflite_ops._interpreter(single, threads=1)
        interpreter.allocate_tensors()
        [image] = interpreter.get_input_details()
        # the padded image is the graph's only (1, 18, 18, 4) tensor, the conv its only 16x16x8 one
        source = next(v for i, v in values.items() if v.shape == tuple(image["shape"])
                      and v.dtype == np.float32)
        interpreter.set_tensor(image["index"], source)
        interpreter.invoke()
        out = interpreter.get_tensor(interpreter.get_output_details()[0]["index"])
        assert any(v.shape == out.shape and np.allclose(v, out, atol=1e-5)
                   for v in values.values())
