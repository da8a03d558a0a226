"""Loading a generator checks that it is one (issue 26): files that merely have the right signature
fail at load, in one line naming the file, not with a traceback at the first image."""

import json

import keras
import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper

from animegan_face.deployment.inference import ModelLoadError, load_stylizer
from animegan_face.models.layers import guided_filter
from animegan_face.models.networks import build_generator


def _onnx(path, shape, nodes=(("Tanh", {}),), element=TensorProto.FLOAT, out_shape=None):
    """A one-input (images) one-output (stylised) ONNX file whose graph is `nodes` in a chain."""
    graph_nodes, name = [], "images"
    for index, (op, attributes) in enumerate(nodes):
        out = "stylised" if index == len(nodes) - 1 else f"t{index}"
        graph_nodes.append(helper.make_node(op, [name], [out], **attributes))
        name = out
    graph = helper.make_graph(
        graph_nodes, "g", [helper.make_tensor_value_info("images", element, shape)],
        [helper.make_tensor_value_info("stylised", element, out_shape or shape)])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    onnx.save(model, path)
    return path


@pytest.mark.parametrize("name, shape, element, message", [
    ("batch2.onnx", [2, "H", "W", 3], TensorProto.FLOAT, "its input has a fixed batch of 2"),
    ("half.onnx", ["N", "H", "W", 3], TensorProto.FLOAT16, r"its input is tensor\(float16\)"),
])
def test_onnx_inputs_it_cannot_feed_are_refused_at_load(tmp_path, name, shape, element, message):
    with pytest.raises(ModelLoadError, match=f"{name}: {message}"):
        load_stylizer(_onnx(tmp_path / name, shape, element=element))


def test_a_fixed_batch_of_one_runs_any_batch(tmp_path):
    stylizer = load_stylizer(_onnx(tmp_path / "one.onnx", [1, "H", "W", 3]))
    images = np.random.default_rng(0).uniform(-1, 1, (3, 8, 12, 3)).astype(np.float32)
    np.testing.assert_allclose(stylizer(images), np.tanh(images), atol=1e-6)


def test_models_that_are_not_generators_fail_the_round_trip_at_load(tmp_path):
    scale = helper.make_tensor("ten", TensorProto.FLOAT, [], [10.0])
    loud = tmp_path / "loud.onnx"
    _onnx(loud, ["N", "H", "W", 3], nodes=(("Constant", {"value": scale}),))  # replaced below
    model = onnx.load(loud)  # images * 10: right signature, wrong range
    model.graph.ClearField("node")
    model.graph.node.extend([helper.make_node("Constant", [], ["ten"], value=scale),
                             helper.make_node("Mul", ["images", "ten"], ["stylised"])])
    onnx.save(model, loud)
    with pytest.raises(ModelLoadError, match=r"loud.onnx: not a generator: its output .* outside \[-1, 1\]"):
        load_stylizer(loud)
    swapped = _onnx(tmp_path / "swapped.onnx", ["N", "H", "W", 3],
                    nodes=(("Transpose", {"perm": [0, 2, 1, 3]}),), out_shape=["N", "W", "H", 3])
    with pytest.raises(ModelLoadError, match=r"swapped.onnx: not a generator: a \(1, 16, 24, 3\) "
                                             r"test image came back as \(1, 24, 16, 3\)"):
        load_stylizer(swapped)


def test_a_keras_file_must_be_one_of_the_generators(tmp_path):
    one_layer = keras.Sequential([keras.Input((None, None, 3)), keras.layers.Conv2D(3, 3, padding="same")])
    one_layer.save(tmp_path / "one_layer.keras")
    with pytest.raises(ModelLoadError, match=r"one_layer.keras: not one of the generators .*"
                                             r"\(2 variables, 84 parameters\)"):
        load_stylizer(tmp_path / "one_layer.keras")
    build_generator("animegan_v2").save(tmp_path / "v2.keras")
    image = np.zeros((1, 8, 8, 3), np.float32)
    assert load_stylizer(tmp_path / "v2.keras")(image).shape == image.shape


def test_a_run_folder_whose_config_names_an_output_filter_stylises_through_it(tmp_path):
    """The filter has no weights: only config.json says the generator ends in it, and a run folder
    (or a shipped model folder) is loaded with it; without config.json, without it."""
    plain = build_generator("animegan_v2")
    plain.save_weights(tmp_path / "generator.weights.h5")
    images = np.random.default_rng(0).uniform(-1, 1, (1, 24, 32, 3)).astype(np.float32)
    raw = np.asarray(plain(images))
    np.testing.assert_allclose(load_stylizer(tmp_path)(images), raw, atol=1e-6)
    (tmp_path / "config.json").write_text(json.dumps({"model": {
        "generator": "animegan_v2", "output_filter_radius": 3, "output_filter_epsilon": 0.02}}))
    np.testing.assert_allclose(load_stylizer(tmp_path)(images), guided_filter(raw, raw, 3, 0.02),
                               atol=1e-5)
