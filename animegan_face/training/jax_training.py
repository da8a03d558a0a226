"""What the training procedure (`loop.train`) does differently under KERAS_BACKEND=jax, without
TensorFlow: the jitted, stateless steps of `jax_trainer` over explicit state (`JaxSteps`), the
pipeline's `NumpyBatches` consumed directly (not through tf.data), and `keras.distribution`'s
DataParallel over several devices (`devices.jax_distribution`). Every step is compiled by jax.jit
whatever `jit_compile` says (XLA is how JAX runs); runs from before the one checkpoint format
(`tf.train.Checkpoint`) are refused, naming the ways on. What a run produces is the same.
"""

import contextlib
import random

import jax
import numpy as np

from animegan_face.data.pipeline import NumpyBatches
from animegan_face.training.devices import jax_distribution, jax_placer
from animegan_face.training.jax_trainer import JaxAnimeGANTrainer
from animegan_face.training.loop import Steps, build_networks, make_optimizers


class Jax:
    """The JAX side of `loop.train` for one `Config`: every member is what the procedure calls, in
    the order it calls them. The trained values live in `state` (a `TrainState`) between steps."""

    reads_legacy_checkpoints = False  # tf.train.Checkpoint needs TensorFlow: refused, naming the ways on

    def __init__(self, config):
        self.config = config
        self.distribution = self.trainer = self.state = None

    @staticmethod
    def set_random_seed(seed):
        set_random_seed(seed)

    @contextlib.contextmanager
    def distributed(self, run):
        """Over several devices, the whole run is inside a DataParallel scope: variables are created
        replicated over the mesh; batches are sharded by `jax_placer`. One process writes `run`."""
        self.distribution = jax_distribution(self.config.train.strategy, self.config.data.batch_size)
        with self.distribution.scope() if self.distribution is not None else contextlib.nullcontext():
            yield run

    @staticmethod
    def scope():
        return contextlib.nullcontext()  # the distribution's, entered for the whole run

    def build(self, networks, optimizers):
        self.trainer = make_jax_trainer(networks, optimizers, self.config)

    def check_workers_agree(self, counters, when):
        """One process: nothing to compare."""

    def stylise(self, photos):
        return self.trainer.generate(self.state, photos)

    @staticmethod
    def gradient_norms(files):
        return None  # `diagnostics` takes TensorFlow's gradients

    def steps(self):
        """The jitted warm-up and GAN steps, over the state as restored."""
        self.state = self.trainer.state()
        place = jax_placer(self.distribution)
        return (JaxSteps(self.trainer, self, self.trainer.warmup_step, place),
                JaxSteps(self.trainer, self, self.trainer.gan_step, place))

    def batches(self, files, epoch):
        """The pipeline's numpy batches, as they are."""
        config = self.config
        return NumpyBatches(files, config.data.image_size, config.data.batch_size,
                            seed=config.train.seed + epoch, crop_size=config.data.crop_size)


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
    return make_jax_trainer(build_networks(config), make_optimizers(config), config)


def make_jax_trainer(networks, optimizers, config):
    """The `JaxAnimeGANTrainer` over `networks` (`loop.Networks`) and `optimizers`
    (`loop.Optimizers`)."""
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
