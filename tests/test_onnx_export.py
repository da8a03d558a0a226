"""ONNX export: the converter layer by layer, both generators in onnxruntime against Keras at two
sizes and batch > 1, the stylizer, and export.py end to end. 32-64 px, random weights."""

import json
import os
import subprocess
import sys

import keras
import numpy as np
import onnxruntime
import pytest

from animegan_face.deployment import export
from animegan_face.deployment.inference import ModelLoadError, OnnxStylizer, load_stylizer
from animegan_face.deployment.onnx_converter import UnsupportedLayerError, generator_to_onnx
from animegan_face.deployment.tflite_graph import tflite_graph
from animegan_face.models.layers import GuidedFilter, ReflectionPad2D, Resize2D
from animegan_face.models.networks import build_generator

pytestmark = pytest.mark.slow  # builds both full generators
REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
# export.py bounds the 99.9th percentile of the difference and its mean; these converter tests hold
# even the largest difference to the percentile's bound (ONNX and Keras differ by float32 rounding).
MAX_DIFFERENCE, MEAN_DIFFERENCE = export.TOLERANCES["onnx"]


def _session(model):
    options = onnxruntime.SessionOptions()
    options.intra_op_num_threads = 1
    return onnxruntime.InferenceSession(model.SerializeToString(), options,
                                        providers=["CPUExecutionProvider"])


def _run(model, images):
    return _session(model).run(["stylised"], {"images": images})[0]


def _with_trained_like_norms(generator, seed=1):
    """Scales and shifts away from their 1 / 0 start, so that a swapped or dropped gamma or beta
    shows (random init leaves them trivial)."""
    rng = np.random.default_rng(seed)
    for layer in generator.layers:
        if isinstance(layer, keras.layers.GroupNormalization):
            layer.gamma.assign(rng.uniform(0.5, 1.5, layer.gamma.shape))
            layer.beta.assign(rng.normal(0.0, 0.3, layer.beta.shape))
    return generator


@pytest.fixture(scope="module", params=["animegan_v1", "animegan_v2"])
def generator(request):
    keras.utils.set_random_seed(7)
    return _with_trained_like_norms(build_generator(request.param))


def _single_layer_model(layer, channels=4):
    image = keras.Input((None, None, channels))
    return keras.Model(image, layer(image))


@pytest.mark.parametrize("layer", [
    keras.layers.Conv2D(5, 3, strides=2, use_bias=True),
    keras.layers.DepthwiseConv2D(3, depth_multiplier=2, use_bias=True),
    keras.layers.SeparableConv2D(6, 3, strides=2, depth_multiplier=2, use_bias=True),
    keras.layers.GroupNormalization(groups=-1),  # instance norm (v1)
    keras.layers.GroupNormalization(groups=1),  # layer norm (v2)
    keras.layers.GroupNormalization(groups=2),
    keras.layers.LeakyReLU(negative_slope=0.2),
    keras.layers.Activation("tanh"),
    ReflectionPad2D((0, 1, 2, 3)),
    Resize2D(2.0),
    Resize2D(0.5),
    Resize2D(2.0, align_corners=True),
    GuidedFilter(2, 0.05),
    GuidedFilter(5, 0.01),  # a window larger than the 8-pixel side: cut at both borders
], ids=lambda layer: f"{type(layer).__name__}_{layer.name}")
def test_each_layer_matches_keras(layer, rng):
    model = _single_layer_model(layer)
    for weight in model.weights:  # nothing left at its 0 / 1 initial value
        weight.assign(rng.normal(0.5, 0.5, weight.shape))
    for shape in [(2, 8, 12, 4), (1, 12, 8, 4)]:
        images = rng.normal(size=shape).astype(np.float32)
        expected = np.asarray(model(images))
        got = _run(generator_to_onnx(model), images)
        assert got.shape == expected.shape
        np.testing.assert_allclose(got, expected, atol=2e-5, rtol=1e-5)


def test_halving_averages_each_2x2_block(rng):
    images = rng.uniform(-1, 1, (2, 8, 12, 3)).astype(np.float32)
    got = _run(generator_to_onnx(_single_layer_model(Resize2D(0.5), channels=3)), images)
    blocks = images.reshape(2, 4, 2, 6, 2, 3).mean(axis=(2, 4))
    np.testing.assert_allclose(got, blocks, atol=1e-6)


def test_generators_match_keras_at_two_sizes_and_batch_sizes(generator, rng):
    model = generator_to_onnx(generator)
    dims = [dim.dim_param or dim.dim_value for dim in model.graph.input[0].type.tensor_type.shape.dim]
    assert dims == ["batch", "height", "width", 3]
    session = _session(model)
    for shape in [(2, 32, 48, 3), (3, 64, 40, 3)]:  # one graph, two sizes: the shape is dynamic
        images = rng.uniform(-1, 1, shape).astype(np.float32)
        got = session.run(["stylised"], {"images": images})[0]
        difference = np.abs(got - np.asarray(generator(images, training=False)))
        assert got.shape == shape
        assert difference.max() <= MAX_DIFFERENCE and difference.mean() <= MEAN_DIFFERENCE, (
            shape, difference.max(), difference.mean())


def test_generator_converts_after_its_tflite_graph_was_built(generator, rng):
    """export.py --formats=tflite,onnx: the TFLite graph calls the generator's own layers again,
    and the converter must still translate the generator's calls (it refused them as shared)."""
    tflite_graph(generator)
    images = rng.uniform(-1, 1, (1, 32, 32, 3)).astype(np.float32)
    difference = np.abs(_run(generator_to_onnx(generator), images)
                        - np.asarray(generator(images, training=False)))
    assert difference.max() <= MAX_DIFFERENCE and difference.mean() <= MEAN_DIFFERENCE


def test_generators_use_the_cheap_forms_of_norms_and_halvings(generator):
    """What made the ONNX files faster in onnxruntime (bench/RESULTS.md): a layer norm's scale and
    shift as one BatchNormalization instead of Mul and Add, a halving as AveragePool."""
    ops = [node.op_type for node in generator_to_onnx(generator).graph.node]
    norms = [layer for layer in generator.layers if isinstance(layer, keras.layers.GroupNormalization)]
    layer_norms = sum(layer.groups == 1 for layer in norms)
    halvings = sum(isinstance(layer, Resize2D) and layer.scale == 0.5 for layer in generator.layers)
    assert ops.count("InstanceNormalization") == len(norms)
    assert ops.count("BatchNormalization") == layer_norms and "Mul" not in ops
    assert ops.count("AveragePool") == halvings
    assert ops.count("Resize") == sum(isinstance(layer, Resize2D) for layer in generator.layers) - halvings


def test_ir_version_is_that_of_the_opset_so_older_runtimes_load_it():
    """Without it onnx 1.23 stamps IR 14, and onnxruntime-web 1.31 (the web page) refuses the file."""
    model = generator_to_onnx(_single_layer_model(keras.layers.Conv2D(3, 1), channels=3))
    assert model.ir_version == 8
    assert [(opset.domain, opset.version) for opset in model.opset_import] == [("", 17)]


def test_onnx_stylizer_threads_sleep_unless_asked_to_spin(tmp_path):
    # A conv and tanh: load_stylizer refuses what does not map images into [-1, 1] (issue 26).
    image = keras.Input((None, None, 3))
    model = generator_to_onnx(keras.Model(image, keras.layers.Activation("tanh")(
        keras.layers.Conv2D(3, 1)(image))))
    (tmp_path / "conv.onnx").write_bytes(model.SerializeToString())
    entry = "session.intra_op.allow_spinning"
    default = load_stylizer(tmp_path / "conv.onnx")._session.get_session_options()
    assert default.get_session_config_entry(entry) == "0"
    assert default.intra_op_num_threads == os.cpu_count()
    spinning = OnnxStylizer(tmp_path / "conv.onnx", num_threads=1, allow_spinning=True)
    options = spinning._session.get_session_options()
    assert options.get_session_config_entry(entry) == "1" and options.intra_op_num_threads == 1


def test_unknown_layers_and_settings_are_refused_by_name():
    image = keras.Input((None, None, 3))
    padded = ReflectionPad2D(name="known_pad")(image)
    upsampled = keras.layers.UpSampling2D(name="mystery_upsample")(padded)
    with pytest.raises(UnsupportedLayerError, match="'mystery_upsample'.*UpSampling2D"):
        generator_to_onnx(keras.Model(image, upsampled))
    same = keras.layers.Conv2D(3, 3, padding="same", name="same_conv")(image)
    with pytest.raises(UnsupportedLayerError, match="'same_conv'.*padding 'same'"):
        generator_to_onnx(keras.Model(image, same))
    shared = keras.layers.LeakyReLU(name="shared_lrelu")
    with pytest.raises(UnsupportedLayerError, match="'shared_lrelu'.*called 2 times"):
        generator_to_onnx(keras.Model(image, shared(shared(image))))


def test_export_and_load_stylizer_give_the_keras_output(tmp_path, generator, rng):
    photos = export.check_photos("", 32, 2)
    result = export.export_onnx(generator, tmp_path, photos)
    assert result.path == tmp_path / "generator.onnx" and result.kind == "onnx"
    assert result.max_difference <= MAX_DIFFERENCE and result.mean_difference <= MEAN_DIFFERENCE
    assert result.percentile_difference <= result.max_difference
    assert list(tmp_path.iterdir()) == [result.path]  # no temporary file left

    stylizer = load_stylizer(result.path)
    assert isinstance(stylizer, OnnxStylizer) and stylizer.fixed_size is None
    images = rng.uniform(-1, 1, (3, 40, 48, 3)).astype(np.float32)
    difference = np.abs(stylizer(images) - np.asarray(generator(images, training=False)))
    assert difference.max() <= MAX_DIFFERENCE and difference.mean() <= MEAN_DIFFERENCE

    fixed = load_stylizer(export.export_onnx(generator, tmp_path, photos, input_size=32).path)
    assert fixed.fixed_size == (32, 32) and fixed(photos).shape == photos.shape
    with pytest.raises(ValueError, match="exported for 32x32"):
        fixed(images)


def test_unreadable_or_foreign_onnx_files_are_refused(tmp_path):
    (tmp_path / "broken.onnx").write_bytes(b"\x08\x07" + b"\xff" * 100)
    model = generator_to_onnx(_single_layer_model(keras.layers.Conv2D(3, 3), channels=3))
    data = model.SerializeToString()
    (tmp_path / "truncated.onnx").write_bytes(data[: len(data) // 2])
    for name in ("broken.onnx", "truncated.onnx"):
        with pytest.raises(ModelLoadError, match=f"{name}: not a readable ONNX model"):
            load_stylizer(tmp_path / name)
    five_channels = generator_to_onnx(_single_layer_model(keras.layers.Conv2D(5, 1), channels=3))
    (tmp_path / "five_channels.onnx").write_bytes(five_channels.SerializeToString())
    with pytest.raises(ModelLoadError, match="five_channels.onnx: not an image-to-image generator"):
        load_stylizer(tmp_path / "five_channels.onnx")


def test_cli_exports_onnx_and_records_it(tmp_path):
    from animegan_face.deployment.provenance import sha256

    generator = _with_trained_like_norms(build_generator("animegan_v2"))
    generator.save_weights(tmp_path / "generator_v2.weights.h5")
    out = tmp_path / "out"
    result = subprocess.run(
        [sys.executable, "export.py", f"--model_dir={tmp_path / 'generator_v2.weights.h5'}",
         f"--output_dir={out}", "--formats=onnx", "--check_images=2", "--input_size=32"],
        cwd=REPO, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr[-3000:]
    assert "generator_32.onnx" in result.stdout
    manifest = json.loads((out / "export_manifest.json").read_text())
    [entry] = manifest["exports"]
    assert entry["file"] == "generator_32.onnx" and entry["kind"] == "onnx"
    assert entry["sha256"] == sha256(out / "generator_32.onnx")
    assert entry["p99.9_difference"] <= entry["max_difference"] <= entry["tolerance"]["p99.9"] \
        == MAX_DIFFERENCE
    assert manifest["software"]["onnxruntime"] == onnxruntime.__version__
    # export.py's record of the files it wrote (so a rerun replaces only those) sits beside them
    assert sorted(path.name for path in out.iterdir()) == [
        ".export_outputs.json", "export_manifest.json", "generator_32.onnx"]
