"""The TFLite-only rewrites of tflite_graph.py equal the layers they replace, and the files that
export.py writes from them hold none of the ops that kept LiteRT's XNNPACK delegate off the graph.

The equalities are checked in float64, where the two sides differ by summation order and
formula rounding only (measured: norms 0, whole v1 generator 3.5e-14, v2 0 at 48x40) whatever the
CPU's vector width and the kernels TensorFlow picks on it; the bound 1e-10 leaves four orders of
magnitude for that, and a wrong axis, epsilon, slice or pool lands far past it. In float32 the same
comparisons move with the CPU (a random v1 generator at 64x48: 2.4e-5), which is export.py's parity
checks' business, not this module's.
"""

import numpy as np
import pytest

import keras

from animegan_face.deployment import export
from animegan_face.models.layers import ReflectionPad2D, Resize2D
from animegan_face.models.networks import build_generator
from animegan_face.deployment.tflite_graph import (
    downsample_for_export, norm_for_export, reflection_pad_for_export, tflite_graph)
from tests.helpers import float64_policy

BOUND = 1e-10
# The generators' TFLite files are test_export's (tests/conftest.py): one conversion per setting,
# on one pytest-xdist worker.
pytestmark = [pytest.mark.usefixtures("export_each_shared_generator_once"),
              pytest.mark.xdist_group("tflite_conversions")]


@pytest.mark.parametrize("groups", [-1, 1])
def test_norm_equals_group_normalization(rng, groups):
    with float64_policy():
        norm = keras.layers.GroupNormalization(groups=groups, epsilon=1e-5)
        # an offset and scale far from 0 and 1, as after a conv: catches a missing centring
        x = rng.normal(3.0, 2.0, (2, 9, 7, 6))
        norm.build(x.shape)
        norm.gamma.assign(rng.uniform(0.5, 2.0, 6))
        norm.beta.assign(rng.normal(0.0, 1.0, 6))
        expected = np.asarray(norm(x))
        rewritten = np.asarray(norm_for_export(norm, keras.ops.convert_to_tensor(x)))
    assert rewritten.dtype == np.float64
    assert np.abs(rewritten - expected).max() < BOUND


def test_norm_refuses_other_group_counts(rng):
    norm = keras.layers.GroupNormalization(groups=2)
    x = keras.ops.convert_to_tensor(rng.normal(size=(1, 4, 4, 6)).astype(np.float32))
    norm.build(x.shape)
    with pytest.raises(ValueError, match="only instance or layer norm"):
        norm_for_export(norm, x)


@pytest.mark.parametrize("padding", [(1, 1, 1, 1), (0, 1, 0, 1), (3, 3, 3, 3), (2, 0, 1, 3)])
def test_reflection_pad_equals_mirror_pad(rng, padding):
    pad = ReflectionPad2D(padding)
    x = rng.normal(size=(1, 6, 5, 2)).astype(np.float32)
    # slices and copies only: equal to the bit
    np.testing.assert_array_equal(np.asarray(reflection_pad_for_export(pad, x)), np.asarray(pad(x)))


def test_downsample_equals_half_pixel_resize(rng):
    with float64_policy():
        resize = Resize2D(0.5)
        x = rng.normal(size=(2, 8, 12, 3))
        expected = np.asarray(resize(x))
        rewritten = np.asarray(downsample_for_export(resize, keras.ops.convert_to_tensor(x)))
    assert rewritten.shape == (2, 4, 6, 3)
    assert np.abs(rewritten - expected).max() < BOUND


@pytest.mark.slow
@pytest.mark.parametrize("architecture", ["animegan_v1", "animegan_v2"])
def test_graph_equals_generator_and_shares_its_variables(rng, architecture):
    with float64_policy():
        generator = build_generator(architecture)
        graph = tflite_graph(generator)
        photos = rng.uniform(-1, 1, (1, 48, 40, 3))
        expected = np.asarray(generator(photos))
        rewritten = np.asarray(graph(photos))
    assert np.abs(rewritten - expected).max() < BOUND
    assert {id(v) for v in graph.weights} == {id(v) for v in generator.weights}
    names = {type(layer).__name__ for layer in graph.layers}
    assert not names & {"GroupNormalization", "ReflectionPad2D"}, names  # all rewritten


@pytest.mark.slow
@pytest.mark.parametrize("architecture", ["animegan_v1", "animegan_v2"])
def test_tflite_file_has_no_mirror_pad_nor_run_time_reshape_and_resizes_correctly(architecture,
                                                                                  random_generator):
    from ai_edge_litert.interpreter import Interpreter

    generator = random_generator(architecture)
    interpreter = Interpreter(model_content=export.tflite_bytes(generator, "none"), num_threads=1)
    ops = {op["op_name"] for op in interpreter._get_ops_details()}
    # Before the rewrite: MIRROR_PAD (the reference kernel, 29-38 % of the time) and the groups'
    # run-time RESHAPEs. What is left outside XNNPACK computes the resizes' output size (SHAPE,
    # SLICE, CAST, MUL on 2 numbers) and RESIZE_BILINEAR with that size.
    assert not ops & {"MIRROR_PAD", "RESHAPE", "PACK"}, ops
    # One interpreter resized from size to size (as the stylizer does) matches Keras at each:
    # the slices' negative indices follow the new size.
    image = interpreter.get_input_details()[0]["index"]
    for shape in [(1, 32, 32, 3), (1, 48, 40, 3), (1, 32, 32, 3)]:
        photo = np.random.default_rng(0).uniform(-1, 1, shape).astype(np.float32)
        interpreter.resize_tensor_input(image, shape)
        interpreter.allocate_tensors()
        interpreter.set_tensor(image, photo)
        interpreter.invoke()
        result = interpreter.get_tensor(interpreter.get_output_details()[0]["index"])
        assert np.abs(result - np.asarray(generator(photo))).mean() < export.TOLERANCES["none"][1]
