"""The library side of train.py under KERAS_BACKEND=jax: same Config, same model_dir layout
(`run_folder`), same checkpoints (`keras_checkpoint`: a run resumes under either backend), logs
`event_log` files with TensorFlow's tags, no TensorFlow.

Differences from the TensorFlow path (`tf_training`), none of them in what a run produces: the
pipeline's `NumpyBatches` are consumed directly (not through tf.data), every step is compiled by
jax.jit whatever `jit_compile` says (XLA is how JAX runs), and runs from before the one checkpoint
format (`tf.train.Checkpoint`) are refused, naming the ways on. What `strategy` means here:
`devices.jax_distribution`.
"""

import dataclasses
import random
import time

import jax
import keras
import numpy as np

from animegan_face.data.pipeline import NumpyBatches
from animegan_face.training.components import build_networks, make_optimizers, set_precision_policy
from animegan_face.training.devices import jax_distribution, jax_placer
from animegan_face.training.jax_trainer import JaxAnimeGANTrainer
from animegan_face.training.keras_checkpoint import KerasCheckpoint, training_checkpoint
from animegan_face.training.run_checks import check_losses_finite, check_variables_finite
from animegan_face.training.run_folder import RunFolder
from animegan_face.training.run_log import RunLog
from animegan_face.training.training_data import resolve_dataset, sample_photos, steps_per_epoch
from animegan_face.training.warm_start import warm_start


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


def build_jax_trainer(config):
    """Networks, frozen extractors, the three Adams and the jitted steps."""
    networks, optimizers = build_networks(config), make_optimizers(config)
    return JaxAnimeGANTrainer(
        *networks, config.loss, init_optimizer=optimizers.init, g_optimizer=optimizers.generator,
        d_optimizer=optimizers.discriminator, face_crop_size=config.model.face_crop_size)


def _state_arrays(state):
    """(name, array) of every array of a `JaxAnimeGANTrainer` state, e.g. ("g_trainable[3]", ...)."""
    return [(f"{field.name}[{index}]", value) for field in dataclasses.fields(state)
            for index, value in enumerate(getattr(state, field.name))]


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
    run = RunFolder(config.train.model_dir)
    run.refuse_legacy_checkpoint()
    run.write_config(config)
    set_random_seed(config.train.seed)
    set_precision_policy(config)
    files = resolve_dataset(config)
    steps = steps_per_epoch(config, files)
    total_epochs = config.train.init_epochs + config.train.epochs
    distribution = jax_distribution(config.train.strategy, config.data.batch_size)
    if distribution is not None:
        # Variables are created replicated over the mesh; batches are sharded by `jax_placer`.
        with distribution.scope():
            return _train(config, verbose, run, files, steps, total_epochs, distribution)
    return _train(config, verbose, run, files, steps, total_epochs, None)


def _train(config, verbose, run, files, steps, total_epochs, distribution):
    # Nothing to do when the latest checkpoint is at the last epoch: say so before building.
    checkpoint = KerasCheckpoint(run.checkpoints_dir, {}, {})
    if checkpoint.latest is not None:
        # A kill between the checkpoint and the generator file leaves the latter an epoch behind.
        run.copy_generator(checkpoint.latest / "generator.weights.h5")
        done, step = checkpoint.counters(checkpoint.latest)
        if done >= total_epochs:
            print(f"{checkpoint.latest}: all {total_epochs} epochs done (step {step})")
            return done

    trainer = build_jax_trainer(config)
    generator = trainer.generator
    checkpoint = training_checkpoint(run.checkpoints_dir, generator, trainer.discriminator,
                                     trainer.init_optimizer, trainer.g_optimizer, trainer.d_optimizer)
    epoch, step = 0, 0
    if checkpoint.latest is not None:
        epoch, step = checkpoint.restore(checkpoint.latest)
        print(f"Resuming from {checkpoint.latest}: {epoch} of {total_epochs} epochs done, step {step}")
    else:
        epoch, step = warm_start(config, generator, trainer.discriminator, steps)

    image_size, batch_size = config.data.image_size, config.data.batch_size
    run_log = RunLog(run, {"init": trainer.init_optimizer, "generator": trainer.g_optimizer,
                           "discriminator": trainer.d_optimizer}, sample_photos(files, image_size))
    place = jax_placer(distribution)
    state = trainer.state()

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
                    check_losses_finite(running, f"step {at_step} (epoch {epoch_index + 1}, "
                                                 f"batch {index + 1})", checkpoint.latest)
                    run_log.step_end(running, at_step)
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
                check_variables_finite(_state_arrays(state), f"end of epoch {epoch_index + 1}",
                                       checkpoint.latest)
                trainer.write_back(state)
                saved = checkpoint.save(epoch_index + 1, step)
                run.copy_generator(saved / "generator.weights.h5")

                run_log.epoch_end(epoch_index + 1, step, means,
                                  trainer.generate(state, run_log.sample_photos))
                epoch = epoch_index + 1
                if verbose:
                    print(f"epoch {epoch}: {(time.perf_counter() - started) / steps:.3f} s/step")
        finally:
            run_log.close()
    return epoch
