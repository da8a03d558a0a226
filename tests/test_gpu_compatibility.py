"""The GPU delegate's rules applied to export.py's files: fixed-size float files pass whole;
free-size files keep only the resizes' run-time output size off the GPU; and the rules do reject
(unlike `tf.lite.experimental.Analyzer`, which calls any file compatible)."""

import collections

import pytest

from animegan_face.deployment import export
from animegan_face.deployment.gpu_compatibility import gpu_rejections

SIZE = 32
# The generators and their TFLite files are test_export's (tests/conftest.py): one conversion per
# setting, on one pytest-xdist worker.
pytestmark = [pytest.mark.usefixtures("export_each_shared_generator_once"),
              pytest.mark.xdist_group("tflite_conversions")]


@pytest.mark.slow
@pytest.mark.parametrize("architecture", ["animegan_v1", "animegan_v2"])
def test_fixed_size_files_pass_and_free_size_files_leave_only_the_resize_sizes(architecture,
                                                                               random_generator):
    generator = random_generator(architecture)
    for quantize in ("none", "float16"):
        assert gpu_rejections(export.tflite_bytes(generator, quantize, SIZE)) == []
    free = collections.Counter((op, reason.split(" (")[0]) for _, op, reason in
                               gpu_rejections(export.tflite_bytes(generator, "float16")))
    # each of the two resizes: SHAPE -> SLICE (1-D) -> ... -> RESIZE_BILINEAR with a computed size
    assert free == {("SHAPE", "not an op the GPU delegate has"): 2,
                    ("SLICE", "slices of 3-D or 4-D tensors only"): 2,
                    ("RESIZE_BILINEAR", "its shape or size input is computed at run time"): 2}, free


def test_rules_reject_what_the_delegate_cannot_run():
    import tensorflow as tf

    @tf.function(input_signature=[tf.TensorSpec((1, None, None, 4), tf.float32)])
    def graph(x):
        padded = tf.pad(x, [[0, 0], [1, 1], [1, 1], [0, 0]], mode="SYMMETRIC")
        return tf.math.cumsum(padded, axis=1)

    converter = tf.lite.TFLiteConverter.from_concrete_functions(
        [graph.get_concrete_function()], graph)
    rejected = {op: reason for _, op, reason in gpu_rejections(converter.convert())}
    assert rejected["MIRROR_PAD"] == "only REFLECT mirror padding"
    assert "no rule here" in rejected["CUMSUM"]


def test_mul_of_two_tensors_each_smaller_somewhere_is_refused():
    import tensorflow as tf

    @tf.function(input_signature=[tf.TensorSpec((1, 4, 1, 3), tf.float32),
                                  tf.TensorSpec((1, 1, 4, 3), tf.float32)])
    def graph(column, row):
        return column * 2.0, column * row  # a scalar broadcast is fine; an outer product is not

    converter = tf.lite.TFLiteConverter.from_concrete_functions(
        [graph.get_concrete_function()], graph)
    assert [(op, reason) for _, op, reason in gpu_rejections(converter.convert())] == [
        ("MUL", "MUL of two tensors each smaller than the other in some dimension")]
