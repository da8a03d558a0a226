"""What the training procedure (`loop.train`) does differently under TensorFlow: the tf.distribute
strategy (one machine or several: `cluster`), the `tf_trainer` models and their steps on every
replica (`StrategySteps`), and batches straight from numpy or through tf.data.
"""

import contextlib
import shutil
import tempfile

import keras
import numpy as np
import tensorflow as tf

from animegan_face.data.pipeline import NumpyBatches, make_dataset
from animegan_face.loss import diagnostics
from animegan_face.training import cluster
from animegan_face.training.devices import tf_strategy
from animegan_face.training.loop import (
    Steps, build_networks, diagnostic_batch, make_optimizers)
from animegan_face.training.run_checks import check_batch_split
from animegan_face.training.run_folder import RunFolder
from animegan_face.training.tf_trainer import AnimeGANTrainer, GeneratorWarmup, as_fit_input


class TensorFlow:
    """The TensorFlow side of `loop.train` for one `Config`: every member is what the procedure
    calls, in the order it calls them."""

    reads_legacy_checkpoints = True  # tf.train.Checkpoint runs from before the one format

    def __init__(self, config):
        self.config = config
        self.strategy = self.warmup = self.gan = None

    @staticmethod
    def set_random_seed(seed):
        keras.utils.set_random_seed(seed)

    @contextlib.contextmanager
    def distributed(self, run):
        """Creates the strategy; yields the `RunFolder` this process writes.

        Every worker saves (saving may need collectives), but only the chief owns model_dir; the
        others write the same files to a folder of their own, deleted at the end.
        """
        self.strategy = tf_strategy(self.config.train.strategy)
        check_batch_split(self.config.data.batch_size, self.strategy.num_replicas_in_sync,
                          "replicas")
        chief = cluster.is_chief(self.strategy)
        output = run if chief else RunFolder(tempfile.mkdtemp(prefix="animegan_worker_"))
        try:
            yield output
        finally:
            if not chief:
                shutil.rmtree(output.root, ignore_errors=True)

    def scope(self):
        """Variables are created on every replica of the strategy."""
        return self.strategy.scope()

    def build(self, networks, optimizers):
        self.warmup, self.gan = compile_trainers(networks, optimizers, self.config)

    def check_workers_agree(self, counters, when):
        """Across machines: the workers restored (or ended) in the same state (`cluster`)."""
        if self.config.train.strategy == "multi_worker":
            cluster.check_workers_agree(self.strategy, counters.epoch, counters.step,
                                        self.gan.generator, when)

    def stylise(self, photos):
        return self.gan.generator(photos, training=False)

    def gradient_norms(self, files):
        """callable(epoch) -> each weighted term's gradient norms on a fixed real batch, after the
        GAN epochs (the warm-up has one term)."""
        config, gan = self.config, self.gan
        batch = diagnostic_batch(files, config.data.image_size)

        def measure(epoch):
            if epoch <= config.train.init_epochs:
                return {}
            return diagnostics.term_gradient_norms(
                gan.generator, gan.discriminator, gan.content_extractor, gan.face_extractor, batch,
                config.loss, config.model.face_crop_size)
        return measure

    def steps(self):
        jit_compile = self.config.train.jit_compile
        return (StrategySteps(self.warmup, self.strategy, jit_compile),
                StrategySteps(self.gan, self.strategy, jit_compile))

    @contextlib.contextmanager
    def batches(self, files, epoch):
        """The pipeline's batches as the train steps take them (each 6-tuple as x alone). On one
        replica the numpy batches go straight into the step, which halves the input's cost against
        tf.data's hand-over (bench/input_pipeline.py); several replicas take them through tf.data,
        which splits each global batch among them (and shards by data across workers)."""
        config = self.config
        size, batch_size, crop = config.data.image_size, config.data.batch_size, config.data.crop_size
        seed = config.train.seed + epoch
        if self.strategy.num_replicas_in_sync == 1 and config.train.strategy != "multi_worker":
            with NumpyBatches(files, size, batch_size, seed=seed, crop_size=crop) as batches:
                yield ((batch,) for batch in batches)
        else:
            dataset = as_fit_input(make_dataset(files, size, batch_size, seed=seed, crop_size=crop))
            yield iter(self.strategy.experimental_distribute_dataset(dataset))


def build_trainers(config):
    """Networks, frozen extractors and both training models, compiled. Call inside a strategy scope."""
    return compile_trainers(build_networks(config), make_optimizers(config), config)


def compile_trainers(networks, optimizers, config):
    """The warm-up and GAN `tf_trainer` models over `networks` (`loop.Networks`) with `optimizers`
    (`loop.Optimizers`), compiled and built. Call inside a strategy scope."""
    generator, discriminator, content, face = networks
    warmup = GeneratorWarmup(generator, content, config.loss, name="warmup")
    warmup.compile(optimizers.init, jit_compile=config.train.jit_compile)
    gan = AnimeGANTrainer(generator, discriminator, content, face, config.loss,
                          face_crop_size=config.model.face_crop_size, name="animegan")
    gan.compile(optimizers.generator, optimizers.discriminator, jit_compile=config.train.jit_compile)
    # Marks both as built: fit() on them (which a user may call; the run uses `loop`) would
    # otherwise trace call() on the whole 6-tuple batch under a distribution strategy and fail.
    for model in (warmup, gan):
        model(np.zeros((1, 16, 16, 3), np.float32))
    for optimizer, variables in ((warmup.optimizer, generator.trainable_variables),
                                 (gan.g_optimizer, generator.trainable_variables),
                                 (gan.d_optimizer, discriminator.trainable_variables)):
        optimizer.build(variables)  # so a checkpoint restores into existing slots
    return warmup, gan


class StrategySteps(Steps):
    """`loop.Steps` of a `tf_trainer` model: its `train_step` on every replica of `strategy`
    (strategy.run inside one tf.function, the replicas' logs averaged), for any tf.distribute
    strategy, MultiWorkerMirroredStrategy included; `jit_compile` compiles the step with XLA."""

    def __init__(self, model, strategy, jit_compile=False):
        replica_step = tf.function(model.train_step, jit_compile=True) if jit_compile else model.train_step

        @tf.function
        def step(batch):
            logs = strategy.run(replica_step, args=(batch,))
            return {name: strategy.reduce("MEAN", value, axis=None) for name, value in logs.items()}

        self._step = step

    def __call__(self, batch):
        return self._step(batch)

    def fetch(self, logs):
        return {name: float(value) for name, value in logs.items()}
