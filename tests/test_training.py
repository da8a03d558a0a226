"""train() end to end at 32 px: outputs on disk, TensorBoard tags, and resume after a stop."""

import dataclasses
import json
import os
import subprocess
import sys

import keras
import numpy as np
import pytest
import tensorflow as tf

from animegan_face.config import Config, TrainConfig
from animegan_face.models.networks import build_discriminator, build_generator
from animegan_face.training import train
from animegan_face.training.keras_checkpoint import KerasCheckpoint
from animegan_face.training.run_checks import SetupError
from animegan_face.training.run_folder import RunFolder
from animegan_face.loss.objectives import DISCRIMINATOR_TERMS, GENERATOR_TERMS
from animegan_face.training.tf_training import build_trainers
from tests.helpers import TINY_GENERATOR, scalar_steps, tiny_config, write_prepared_dataset

pytestmark = pytest.mark.slow
REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def test_train_writes_everything_and_resumes_where_it_stopped(tmp_path):
    dataset = write_prepared_dataset(tmp_path / "data")
    model_dir = tmp_path / "run"
    config = tiny_config(dataset, model_dir, epochs=1, init_epochs=1, steps_per_epoch=2)

    assert train(config, verbose=0) == 2
    assert Config.from_json((model_dir / "config.json").read_text()) == config
    assert (model_dir / "generator.weights.h5").is_file()
    assert (model_dir / "samples" / "epoch_002.png").is_file()
    generator = build_generator(TINY_GENERATOR)
    generator.load_weights(model_dir / "generator.weights.h5")
    after_two = np.array(generator.trainable_weights[0])
    assert not any(tag.startswith("grad_norm/") for tag in scalar_steps(model_dir / "logs"))

    # The same command with more epochs continues from epoch 2: exactly one more epoch, now with
    # the per-epoch gradient norms on (the default; tiny_config turns them off).
    assert TrainConfig(model_dir="any").gradient_norms
    longer = dataclasses.replace(config, train=dataclasses.replace(config.train, epochs=2,
                                                                   gradient_norms=True))
    assert train(longer, verbose=0) == 3
    assert KerasCheckpoint.counters(RunFolder(model_dir).latest_checkpoint()) == (3, 3 * 2)
    generator.load_weights(model_dir / "generator.weights.h5")
    assert not np.array_equal(after_two, np.array(generator.trainable_weights[0]))
    assert sorted(os.listdir(model_dir / "samples")) == [f"epoch_00{k}.png" for k in (1, 2, 3)]

    # Nothing to do once all epochs are done.
    assert train(longer, verbose=0) == 3

    steps = scalar_steps(model_dir / "logs")
    for term in ("g_total", *DISCRIMINATOR_TERMS, *GENERATOR_TERMS):
        assert f"epoch/{term}" in steps
    assert steps["epoch/init_con"] == [2]
    assert steps["epoch/g_total"] == [4, 6]  # the resumed epoch logs at its own step
    assert {"lr/generator", "lr/discriminator", "lr/init"} <= set(steps)
    # Every weighted term's two norms, after the GAN epoch that ran with them on.
    assert {tag for tag in steps if tag.startswith("grad_norm/")} == {
        f"grad_norm/{kind}/{term}" for kind in ("image", "generator")
        for term in ("g_adv", "con", "gra", "col", "skin", "face")}
    assert steps["grad_norm/image/con"] == steps["grad_norm/generator/face"] == [6]


def test_init_from_starts_a_new_run_from_a_models_weights_without_warm_up(tmp_path):
    dataset = write_prepared_dataset(tmp_path / "data")
    source = tmp_path / "shipped"
    source.mkdir()
    keras.utils.set_random_seed(7)  # weights unlike those the run itself would draw (seed 0)
    build_generator(TINY_GENERATOR).save_weights(source / "generator.weights.h5")
    build_discriminator().save_weights(source / "discriminator.weights.h5")
    model_dir = tmp_path / "run"
    config = tiny_config(dataset, model_dir, epochs=1, init_epochs=1, steps_per_epoch=2,
                         init_from=str(source))

    assert train(config, verbose=0) == 2
    latest = RunFolder(model_dir).latest_checkpoint()
    assert KerasCheckpoint.counters(latest) == (2, 4)
    steps = scalar_steps(model_dir / "logs")
    assert "epoch/init_con" not in steps and steps["epoch/g_total"] == [4]
    assert not any(tag.startswith("grad_norm/") for tag in steps)  # gradient_norms=False
    # Loaded means: the run's first kernel points where the source's does. Two Adam steps move
    # each weight by about 2 learning rates, and spectral norm rescales the discriminator's kernel
    # by 1/sigma (it stores W / sigma when training), so compare directions: cosine ~1 after
    # loading, ~0 (|cos| ~ 1/sqrt(kernel size): 864 for D, 4,704 for G) for an independent random
    # draw, on any CPU.
    for name, build in (("generator", lambda: build_generator(TINY_GENERATOR)),
                        ("discriminator", build_discriminator)):
        network, source_net, fresh = build(), build(), build()
        network.load_weights(latest / f"{name}.weights.h5")
        source_net.load_weights(source / f"{name}.weights.h5")
        assert _first_kernel_cosine(network, source_net) > 0.99, name
        assert abs(_first_kernel_cosine(fresh, source_net)) < 0.5, name


def _first_kernel_cosine(network, other):
    """Cosine between the first convolution kernels of two networks of one architecture."""
    kernel = next(i for i, w in enumerate(network.trainable_weights) if len(w.shape) == 4)
    a, b = (np.ravel(net.trainable_weights[kernel]) for net in (network, other))
    return float(a @ b / np.linalg.norm(a) / np.linalg.norm(b))


def test_init_from_a_folder_without_discriminator_loads_the_generator_only(tmp_path, capsys):
    # The shipped model's folder holds a blended generator and no discriminator: fine-tuning from
    # it loads G and leaves the run's own freshly drawn D as it was.
    from animegan_face.training.loop import warm_start

    keras.utils.set_random_seed(7)
    build_generator(TINY_GENERATOR).save_weights(tmp_path / "generator.weights.h5")
    keras.utils.set_random_seed(0)
    generator, discriminator = build_generator(TINY_GENERATOR), build_discriminator()
    fresh_discriminator = [np.array(w) for w in discriminator.weights]
    config = tiny_config("unused", tmp_path / "run", init_epochs=2, init_from=str(tmp_path))

    assert warm_start(config, generator, discriminator, steps=5) == (2, 10)
    source = build_generator(TINY_GENERATOR)
    source.load_weights(tmp_path / "generator.weights.h5")
    for got, want in zip(generator.weights, source.weights):
        np.testing.assert_array_equal(np.array(got), np.array(want))
    for got, want in zip(discriminator.weights, fresh_discriminator):
        np.testing.assert_array_equal(np.array(got), want)
    printed = capsys.readouterr().out
    assert "no discriminator.weights.h5" in printed and "starts anew" in printed
    assert "warm-up skipped" in printed


def test_init_from_names_a_missing_generator_file(tmp_path):
    config = tiny_config(write_prepared_dataset(tmp_path / "data"), tmp_path / "run",
                         init_from=str(tmp_path))
    with pytest.raises(SetupError, match="no generator.weights.h5 in"):
        train(config, verbose=0)


def test_a_run_saved_in_the_older_tensorflow_format_resumes_then_saves_the_one_format(tmp_path,
                                                                                      capsys):
    dataset = write_prepared_dataset(tmp_path / "data")
    model_dir = tmp_path / "run"
    config = tiny_config(dataset, model_dir, epochs=1, init_epochs=1, steps_per_epoch=2)
    # What the TensorFlow path wrote before the one format, after its warm-up epoch of 2 steps;
    # seed 7 weights, unlike those the run itself would draw.
    warmup, gan = build_trainers(config)
    keras.utils.set_random_seed(7)
    source = {"generator": build_generator(TINY_GENERATOR), "discriminator": build_discriminator()}
    gan.generator.set_weights(source["generator"].get_weights())
    gan.discriminator.set_weights(source["discriminator"].get_weights())
    warmup.optimizer.iterations.assign(2)
    checkpoint = tf.train.Checkpoint(
        generator=gan.generator, discriminator=gan.discriminator, init_optimizer=warmup.optimizer,
        g_optimizer=gan.g_optimizer, d_optimizer=gan.d_optimizer,
        epoch=tf.Variable(1, dtype=tf.int64), step=tf.Variable(2, dtype=tf.int64))
    tf.train.CheckpointManager(checkpoint, model_dir / "checkpoints", 3).save(checkpoint_number=1)

    assert train(config, verbose=0) == 2
    assert (f"Resuming from {model_dir / 'checkpoints' / 'ckpt-1'}: 1 of 2 epochs done, step 2"
            in capsys.readouterr().out)
    latest = RunFolder(model_dir).latest_checkpoint()
    assert latest.name == "keras-ckpt-2" and KerasCheckpoint.counters(latest) == (2, 4)
    with np.load(latest / "init_optimizer.npz") as saved:
        assert int(saved["0"]) == 2  # the warm-up's Adam, restored, not run again
    assert "epoch/init_con" not in scalar_steps(model_dir / "logs")
    for name, build in (("generator", lambda: build_generator(TINY_GENERATOR)),
                        ("discriminator", build_discriminator)):
        network = build()
        network.load_weights(latest / f"{name}.weights.h5")
        assert _first_kernel_cosine(network, source[name]) > 0.99, name


def _run_train(*flags):
    return subprocess.run([sys.executable, "train.py", *flags], cwd=REPO, capture_output=True,
                          text=True, timeout=600)


@pytest.mark.parametrize("flag, message", [
    ("--image_size=30", "--image_size: must be a multiple of 4"),
    ("--distance=l3", "--distance"),
    ("--skin_weight=-1", "--skin_weight: must not be negative"),
    ("--photo_dir=/nonexistent", "--photo_dir"),
])
def test_bad_flag_fails_at_once_naming_it(tmp_path, flag, message):
    result = _run_train(f"--model_dir={tmp_path}", flag, "--dry_run")
    assert result.returncode != 0
    assert message in result.stderr + result.stdout
    assert not (tmp_path / "config.json").exists()


def test_dry_run_prints_preset_with_overrides(tmp_path):
    result = _run_train(f"--model_dir={tmp_path}", "--preset=animegan", "--con_weight=1.5", "--dry_run")
    assert result.returncode == 0, result.stderr
    config = Config.from_json(result.stdout)
    assert (config.loss.skin, config.loss.face, config.loss.con) == (0.0, 0.0, 1.5)
    assert config.model.face_extractor == "none"
    assert not (tmp_path / "config.json").exists()


# train.py end to end under TensorFlow (flags -> config.json -> checkpoints) is the first stage of
# the TensorFlow -> JAX -> TensorFlow run in tests/test_jax_backend.py (its `jax_runs` fixture;
# test_a_run_continues_across_backends_tensorflow_jax_tensorflow checks it), which checks what a
# run of its own here checked, without another child process (TensorFlow import, build and trace:
# 70 s of the 2-core machine).
