"""Generator and discriminator: parameter counts, shapes at any size, serialization round trip."""

import numpy as np
import pytest

import keras

from animegan_face.layers import ReflectionPad2D, Resize2D
from animegan_face.networks import build_discriminator, build_generator


def _trainable_count(model):
    return sum(int(np.prod(w.shape)) for w in model.trainable_weights)


@pytest.fixture(scope="module")
def generator():
    return build_generator()


@pytest.fixture(scope="module")
def discriminator():
    return build_discriminator()


def test_parameter_counts(generator, discriminator):
    # SPEC: about 3.96 M and 1.13 M; pinned exactly so an architecture change is noticed.
    assert _trainable_count(generator) == 3_956_099
    assert _trainable_count(discriminator) == 1_128_800


@pytest.mark.parametrize("height, width", [(32, 32), (36, 36), (64, 48), (40, 56)])
def test_any_size_divisible_by_four(generator, discriminator, rng, height, width):
    images = rng.uniform(-1, 1, (2, height, width, 3)).astype(np.float32)
    fake = np.asarray(generator(images))
    assert fake.shape == (2, height, width, 3)
    assert fake.min() >= -1.0 and fake.max() <= 1.0
    assert np.asarray(discriminator(images)).shape == (2, height // 4, width // 4, 1)


def test_generator_is_bias_free_except_output(generator):
    biased = [layer.name for layer in generator.layers if getattr(layer, "use_bias", False)]
    assert biased == ["out_conv"]


def test_discriminator_is_spectrally_normalised(discriminator):
    convs = [layer for layer in discriminator.layers if isinstance(layer, keras.layers.SpectralNormalization)]
    assert len(convs) == 7


@pytest.mark.parametrize("build, name", [(build_generator, "g"), (build_discriminator, "d")])
def test_save_and_load_give_identical_outputs(tmp_path, rng, build, name):
    model = build()
    images = rng.uniform(-1, 1, (1, 32, 32, 3)).astype(np.float32)
    path = tmp_path / f"{name}.keras"
    model.save(path)
    loaded = keras.models.load_model(path)
    np.testing.assert_array_equal(np.asarray(model(images)), np.asarray(loaded(images)))


def test_custom_layers_round_trip_config(rng):
    images = rng.uniform(-1, 1, (1, 6, 8, 3)).astype(np.float32)
    for layer in (ReflectionPad2D((1, 2, 0, 3)), Resize2D(2.0), Resize2D(0.5)):
        clone = layer.__class__.from_config(layer.get_config())
        np.testing.assert_array_equal(np.asarray(layer(images)), np.asarray(clone(images)))


def test_reflection_pad_matches_numpy(rng):
    images = rng.uniform(-1, 1, (1, 4, 5, 2)).astype(np.float32)
    padded = np.asarray(ReflectionPad2D((1, 2, 0, 1))(images))
    np.testing.assert_array_equal(padded, np.pad(images, ((0, 0), (1, 2), (0, 1), (0, 0)), mode="reflect"))
