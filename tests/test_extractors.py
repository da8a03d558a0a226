"""Frozen extractors: layer choice, preprocessing, weights options (random and local file)."""

import numpy as np
import pytest

import keras

from animegan_face.config import LossConfig, ModelConfig
from animegan_face.models.extractors import (
    CaffePreprocess, build_content_extractor, build_face_extractor, build_loss_extractors)


def test_caffe_preprocess_golden():
    images = np.array([[[[-1.0, -1.0, -1.0], [1.0, 0.0, -1.0]]]], np.float32)
    out = np.asarray(CaffePreprocess()(images))
    np.testing.assert_allclose(out[0, 0, 0], [-103.939, -116.779, -123.68], rtol=1e-6)
    # RGB (255, 127.5, 0) -> BGR (0, 127.5, 255) minus the BGR mean
    np.testing.assert_allclose(out[0, 0, 1], [0 - 103.939, 127.5 - 116.779, 255 - 123.68], rtol=1e-6)


@pytest.mark.slow
def test_vgg19_is_conv4_4_before_relu_and_loads_a_local_file(tmp_path, rng):
    reference = keras.applications.VGG19(include_top=False, weights=None, input_shape=(None, None, 3))
    weights_file = tmp_path / "vgg19_notop.weights.h5"
    reference.save_weights(weights_file)
    extractor = build_content_extractor("vgg19", str(weights_file))

    images = rng.uniform(-1, 1, (2, 64, 64, 3)).astype(np.float32)
    features = np.asarray(extractor(images, training=False))
    assert features.shape == (2, 8, 8, 512)
    assert features.min() < 0  # pre-activation: negative responses survive

    post_relu = keras.Model(reference.input, reference.get_layer("block4_conv4").output)
    caffe = np.asarray(CaffePreprocess()(images))
    # The same float32 convolutions with and without the fused ReLU: equal to the bit here (oneDNN on
    # and off); another kernel order moves 4 blocks without normalisation by ~1e-6 relative.
    np.testing.assert_allclose(np.maximum(features, 0), np.asarray(post_relu(caffe)), rtol=1e-4, atol=1e-3)


def test_mobilenet_shape_and_frozen(rng):
    extractor = build_content_extractor("mobilenet", "none")
    assert extractor.trainable_weights == []
    images = rng.uniform(-1, 1, (2, 64, 96, 3)).astype(np.float32)
    assert np.asarray(extractor(images, training=False)).shape == (2, 8, 12, 256)


@pytest.mark.slow
def test_resnet101_face_extractor_shape_and_frozen(rng):
    extractor = build_face_extractor("resnet101", "none", crop_size=64)
    assert extractor.trainable_weights == []
    crops = rng.uniform(-1, 1, (2, 64, 64, 3)).astype(np.float32)
    assert np.asarray(extractor(crops, training=False)).shape == (2, 4, 4, 1024)


def test_face_extractor_none_and_bad_options(tmp_path):
    assert build_face_extractor("none") is None
    with pytest.raises(ValueError, match="face extractor"):
        build_face_extractor("arcface")
    with pytest.raises(ValueError, match="content extractor"):
        build_content_extractor("resnet50", "none")
    with pytest.raises(FileNotFoundError, match="missing.h5"):
        build_content_extractor("vgg19", str(tmp_path / "missing.h5"))


def test_no_resnet101_is_built_when_the_face_term_is_off():
    model = ModelConfig(extractor="mobilenet", extractor_weights="none", face_extractor="resnet101",
                        face_extractor_weights="none", face_crop_size=32)
    content, face = build_loss_extractors(model, LossConfig(face=0.0))
    assert face is None and content.name.startswith("mobilenet")
    _, face = build_loss_extractors(model, LossConfig())
    assert face is not None and face.name == "resnet101_face_extractor"
