"""The library side of train.py under KERAS_BACKEND=jax: same Config, same model_dir layout
(`run_folder`), same checkpoints (`keras_checkpoint`: a run resumes under either backend), logs
`event_log` files with TensorFlow's tags, no TensorFlow.

Differences from the TensorFlow path (`tf_training`), none of them in what a run produces: the
pipeline's `NumpyBatches` are consumed directly (not through tf.data), every step is compiled by
jax.jit whatever `jit_compile` says (XLA is how JAX runs), and runs from before the one checkpoint
format (`tf.train.Checkpoint`) are refused, naming the ways on. What `strategy` means here:
`devices.jax_distribution`.
"""

import random
import types

import jax
import numpy as np

from animegan_face.data.pipeline import NumpyBatches
from animegan_face.training.callbacks import Counters, EpochCheckpoint, TensorBoardLogger
from animegan_face.training.components import build_networks, make_optimizers, set_precision_policy
from animegan_face.training.devices import jax_distribution, jax_placer
from animegan_face.training.jax_trainer import JaxAnimeGANTrainer
from animegan_face.training.keras_checkpoint import KerasCheckpoint, training_checkpoint
from animegan_face.training.loop import Steps, run_epochs
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


class JaxSteps(Steps):
    """`loop.Steps` of one jitted step of a `JaxAnimeGANTrainer` (`warmup_step` or `gan_step`),
    over the training state that every `JaxSteps` of the same `holder` shares.

    Args:
        trainer: the `JaxAnimeGANTrainer`.
        holder: an object whose `.state` is the current `TrainState` (updated by each step).
        train_step: `trainer.warmup_step` or `trainer.gan_step`.
        place: callable(batch) -> the batch on the devices (`devices.jax_placer`).
    """

    def __init__(self, trainer, holder, train_step, place):
        self.trainer, self.holder, self.train_step, self.place = trainer, holder, train_step, place

    def __call__(self, batch):
        self.holder.state, logs = self.train_step(self.holder.state, self.place(batch))
        return logs

    def fetch(self, logs):
        # One transfer for all the step's logs.
        return {name: float(value) for name, value in jax.device_get(logs).items()}

    def sync(self):
        self.trainer.write_back(self.holder.state)


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
    generator, discriminator = trainer.generator, trainer.discriminator
    optimizers = (trainer.init_optimizer, trainer.g_optimizer, trainer.d_optimizer)
    checkpoint = training_checkpoint(run.checkpoints_dir, generator, discriminator, *optimizers)
    counters = Counters()
    if checkpoint.latest is not None:
        counters.epoch, counters.step = checkpoint.restore(checkpoint.latest)
        print(f"Resuming from {checkpoint.latest}: {counters.epoch} of {total_epochs} epochs done, "
              f"step {counters.step}")
    else:
        counters.epoch, counters.step = warm_start(config, generator, discriminator, steps)

    image_size, batch_size = config.data.image_size, config.data.batch_size
    run_log = RunLog(run, dict(zip(("init", "generator", "discriminator"), optimizers)),
                     sample_photos(files, image_size))
    holder = types.SimpleNamespace(state=trainer.state())
    place = jax_placer(distribution)
    saved_variables = (generator.weights + discriminator.weights
                       + [v for optimizer in optimizers for v in optimizer.variables])
    callbacks = [
        EpochCheckpoint(checkpoint, counters, run, saved_variables, checkpoint.latest),
        TensorBoardLogger(run_log, counters, lambda photos: trainer.generate(holder.state, photos)),
    ]
    phases = ((JaxSteps(trainer, holder, trainer.warmup_step, place), config.train.init_epochs),
              (JaxSteps(trainer, holder, trainer.gan_step, place), total_epochs))
    with NumpyBatches(files, image_size, batch_size, seed=config.train.seed + counters.epoch) as batches:
        try:
            return run_epochs(phases, batches, counters, total_epochs, steps, callbacks, verbose)
        finally:
            run_log.close()
