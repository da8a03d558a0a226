"""The library side of train.py under KERAS_BACKEND=jax: same Config, same model_dir, no TensorFlow.

model_dir/
    config.json                     the resolved Config of the run
    checkpoints/keras-ckpt-N/       full state after epoch N (`keras_checkpoint`; last 3 kept)
    generator.weights.h5            the generator alone, latest epoch (loads under TensorFlow too)
    logs/                           TensorBoard event files (`event_log`): the same tags as TensorFlow's
    samples/epoch_NNN.png           sample photos beside their stylisation, each epoch

Differences from the TensorFlow path (`training`), none of them in what a run produces:
checkpoints are Keras .weights.h5/.npz files instead of `tf.train.Checkpoint` (TensorFlow cannot be
assumed here), batches come from `numpy_pipeline` instead of tf.data, and every step is compiled
by jax.jit whatever `jit_compile` says (XLA is how JAX runs). `strategy`: "auto" shards each batch
over all accelerators with `keras.distribution.DataParallel` when there are several, "mirrored"
always does, "one_device" uses the first device.
"""

import dataclasses
import pathlib
import random
import time

import jax
import keras
import numpy as np

from animegan_face.event_log import EventWriter
from animegan_face.extractors import build_loss_extractors
from animegan_face.image_files import write_file_atomic, write_image
from animegan_face.jax_trainer import JaxAnimeGANTrainer
from animegan_face.keras_checkpoint import KerasCheckpoint
from animegan_face.networks import build_discriminator, build_generator
from animegan_face.numpy_pipeline import NumpyBatches
from animegan_face.run_setup import (
    NonFiniteError, SetupError, check_batch_split, make_adam, non_finite, non_finite_error,  # noqa: F401
    refuse_other_backend_run, resolve_dataset, sample_photos, set_precision_policy, steps_per_epoch,
    warm_start, write_config)
from animegan_face.samples import side_by_side

LOG_EVERY_STEPS = 10


def set_random_seed(seed):
    """`keras.utils.set_random_seed` without its TensorFlow part.

    Keras' version also seeds TensorFlow whenever TensorFlow is installed, which imports it (2 GB,
    CUDA probing) into a JAX run. This does the rest of what it documents: Python's and NumPy's
    seeds, and Keras' global seed with its global SeedGenerator reset (initializers draw from it).
    """
    from keras.src.backend.common import global_state  # no public setter without TensorFlow
    from keras.src.random.seed_generator import GLOBAL_SEED_GENERATOR
    from keras.src.utils.rng_utils import GLOBAL_RANDOM_SEED

    global_state.set_global_attribute(GLOBAL_RANDOM_SEED, seed)
    global_state.set_global_attribute(GLOBAL_SEED_GENERATOR, None)
    random.seed(seed)
    np.random.seed(seed)


def make_distribution(strategy, batch_size):
    """A `keras.distribution.DataParallel` over all devices, or None for one device.

    Raises SetupError when the batch does not split evenly over the devices, or for a strategy
    that exists only under TensorFlow.
    """
    devices = keras.distribution.list_devices()
    if strategy == "one_device" or (strategy == "auto" and len(devices) == 1):
        return None
    if strategy not in ("auto", "mirrored"):
        raise SetupError(f"--strategy={strategy} is TensorFlow-only; under JAX use auto, mirrored "
                         "or one_device (several machines: not supported yet)")
    check_batch_split(batch_size, len(devices), "devices", devices)
    return keras.distribution.DataParallel(devices=devices)


def _placer(distribution):
    """Puts a numpy batch on the devices: sharded along the batch under DataParallel."""
    if distribution is None:
        return tuple

    def place(batch):
        return tuple(jax.device_put(x, distribution.get_data_layout(x.shape).backend_layout)
                     for x in batch)
    return place


def build_jax_trainer(config):
    """Networks, frozen extractors, the three Adams and the jitted steps."""
    generator = build_generator(config.model.generator)
    discriminator = build_discriminator()
    content, face = build_loss_extractors(config.model, config.loss)
    return JaxAnimeGANTrainer(
        generator, discriminator, content, face, config.loss,
        init_optimizer=make_adam(config.train.init_lr, config),
        g_optimizer=make_adam(config.train.g_lr, config),
        d_optimizer=make_adam(config.train.d_lr, config), face_crop_size=config.model.face_crop_size)


def _stop(where, what, checkpoint):
    raise non_finite_error(where, what, checkpoint.latest)


def _check_finite(running_means, where, checkpoint):
    """The running means include every step of the epoch: the first NaN/Inf shows at its step."""
    bad = non_finite(running_means)
    if bad:
        _stop(where, f"loss terms not finite {bad}", checkpoint)


def _check_finite_state(state, where, checkpoint):
    """A step can write NaN weights while its own loss, computed before the update, was finite."""
    for field in dataclasses.fields(state):
        for index, value in enumerate(getattr(state, field.name)):
            if jax.numpy.issubdtype(value.dtype, jax.numpy.floating) and not bool(
                    jax.numpy.all(jax.numpy.isfinite(value))):
                _stop(where, f"{field.name}[{index}] holds NaN or Inf values", checkpoint)


def _copy_generator(checkpoint_path, model_dir):
    """model_dir/generator.weights.h5 := the checkpoint's generator weights (atomically)."""
    write_file_atomic(pathlib.Path(model_dir) / "generator.weights.h5",
                      (pathlib.Path(checkpoint_path) / "generator.weights.h5").read_bytes())


class _EpochLogs:
    """Running means of the step logs over an epoch (what Keras' Mean trackers report)."""

    def __init__(self):
        self.sums, self.count = {}, 0

    def add(self, logs):
        """Adds one step's logs (fetched from the device in one transfer); returns them as floats."""
        self.count += 1
        values = {name: float(value) for name, value in jax.device_get(logs).items()}
        for name, value in values.items():
            self.sums[name] = self.sums.get(name, 0.0) + value
        return values

    def means(self):
        return {name: total / self.count for name, total in self.sums.items()}


def train(config, verbose=1):
    """Runs (or resumes) warm-up then GAN training under JAX. Returns the epochs done."""
    model_dir = pathlib.Path(config.train.model_dir)
    model_dir.mkdir(parents=True, exist_ok=True)
    refuse_other_backend_run(model_dir, "jax")
    write_config(model_dir, config)
    set_random_seed(config.train.seed)
    set_precision_policy(config)
    files = resolve_dataset(config)
    steps = steps_per_epoch(config, files)
    total_epochs = config.train.init_epochs + config.train.epochs
    distribution = make_distribution(config.train.strategy, config.data.batch_size)
    if distribution is not None:
        # Variables are created replicated over the mesh; batches are sharded by `_placer`.
        with distribution.scope():
            return _train(config, verbose, model_dir, files, steps, total_epochs, distribution)
    return _train(config, verbose, model_dir, files, steps, total_epochs, None)


def _train(config, verbose, model_dir, files, steps, total_epochs, distribution):
    # Nothing to do when the latest checkpoint is at the last epoch: say so before building.
    checkpoint = KerasCheckpoint(model_dir / "checkpoints", {}, {})
    if checkpoint.latest is not None:
        # A kill between the checkpoint and the generator file leaves the latter an epoch behind.
        _copy_generator(checkpoint.latest, model_dir)
        done, step = checkpoint.counters(checkpoint.latest)
        if done >= total_epochs:
            print(f"{checkpoint.latest}: all {total_epochs} epochs done (step {step})")
            return done

    trainer = build_jax_trainer(config)
    generator = trainer.generator
    checkpoint = KerasCheckpoint(
        model_dir / "checkpoints",
        models={"generator": generator, "discriminator": trainer.discriminator},
        optimizers={"init_optimizer": trainer.init_optimizer, "g_optimizer": trainer.g_optimizer,
                    "d_optimizer": trainer.d_optimizer})
    epoch, step = 0, 0
    if checkpoint.latest is not None:
        epoch, step = checkpoint.restore(checkpoint.latest)
        print(f"Resuming from {checkpoint.latest}: {epoch} of {total_epochs} epochs done, step {step}")
    else:
        epoch, step = warm_start(config, generator, trainer.discriminator, steps)

    image_size, batch_size = config.data.image_size, config.data.batch_size
    samples = sample_photos(files, image_size)
    learning_rates = {"init": trainer.init_optimizer, "generator": trainer.g_optimizer,
                      "discriminator": trainer.d_optimizer}
    writer = EventWriter(model_dir / "logs")
    place = _placer(distribution)
    state = trainer.state()

    def log_scalars(prefix, logs, at_step):
        for name, value in logs.items():
            writer.scalar(f"{prefix}/{name}", value, at_step)
        for name, optimizer in learning_rates.items():
            writer.scalar(f"lr/{name}", float(np.asarray(optimizer.learning_rate)), at_step)

    with NumpyBatches(files, image_size, batch_size, seed=config.train.seed + epoch) as batches:
        try:
            for epoch_index in range(epoch, total_epochs):
                warmup = epoch_index < config.train.init_epochs
                train_step = trainer.warmup_step if warmup else trainer.gan_step
                if verbose:
                    print(f"Epoch {epoch_index + 1}/{total_epochs}"
                          f"{' (warm-up)' if warmup else ''}")
                progress = keras.utils.Progbar(steps, verbose=verbose) if verbose else None
                epoch_logs = _EpochLogs()
                started = time.perf_counter()

                def record(logs, index, at_step):
                    """Host side of one step: running means, NaN check, TensorBoard, progress bar."""
                    values = epoch_logs.add(logs)  # waits for that step's results
                    running = epoch_logs.means()
                    _check_finite(running, f"step {at_step} (epoch {epoch_index + 1}, batch "
                                           f"{index + 1})", checkpoint)
                    if at_step % LOG_EVERY_STEPS == 0:
                        log_scalars("train", running, at_step)
                    if progress is not None:
                        # Progbar averages what it is given over the epoch: the step's own values.
                        progress.update(index + 1, list(values.items()), finalize=index + 1 == steps)

                # Step k+1 is dispatched before step k's results are read, so the accelerator
                # never waits for the host's logging (jax.jit calls return at once).
                pending = None
                for index in range(steps):
                    state, logs = train_step(state, place(next(batches)))
                    step += 1
                    if pending is not None:
                        record(*pending)
                    pending = (logs, index, step)
                record(*pending)
                means = epoch_logs.means()
                _check_finite_state(state, f"end of epoch {epoch_index + 1}", checkpoint)
                trainer.write_back(state)
                _copy_generator(checkpoint.save(epoch_index + 1, step), model_dir)

                log_scalars("epoch", means, step)
                grid = side_by_side(samples, np.asarray(trainer.generate(state, samples)))
                writer.image("samples/photo_vs_stylised", grid, step)
                write_image(model_dir / "samples" / f"epoch_{epoch_index + 1:03d}.png", grid)
                writer.flush()
                epoch = epoch_index + 1
                if verbose:
                    print(f"epoch {epoch}: {(time.perf_counter() - started) / steps:.3f} s/step")
        finally:
            writer.close()
    return epoch
