"""The library side of train.py under TensorFlow: one `Config` in, a trained (or resumed) run in
`model_dir` out (its layout: `run_folder`).

The one loop (`loop.run_epochs`) runs the train steps of `tf_trainer` on every replica of the
tf.distribute strategy (`StrategySteps`), one machine or several (`cluster`).
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
from animegan_face.training.callbacks import Counters, EpochCheckpoint, TensorBoardLogger
from animegan_face.training.components import build_networks, make_optimizers, set_precision_policy
from animegan_face.training.devices import tf_strategy
from animegan_face.training.keras_checkpoint import training_checkpoint
from animegan_face.training.legacy_checkpoint import restore_legacy_checkpoint
from animegan_face.training.loop import Steps, run_epochs
from animegan_face.training.run_checks import check_batch_split
from animegan_face.training.run_folder import RunFolder
from animegan_face.training.run_log import RunLog
from animegan_face.training.tf_trainer import AnimeGANTrainer, GeneratorWarmup, as_fit_input
from animegan_face.training.training_data import (
    diagnostic_batch, resolve_dataset, sample_photos, steps_per_epoch)
from animegan_face.training.warm_start import warm_start


def build_trainers(config):
    """Networks, frozen extractors and both training models, compiled. Call inside a strategy scope."""
    generator, discriminator, content, face = build_networks(config)
    optimizers = make_optimizers(config)
    warmup = GeneratorWarmup(generator, content, config.loss, name="warmup")
    warmup.compile(optimizers.init, jit_compile=config.train.jit_compile)
    gan = AnimeGANTrainer(generator, discriminator, content, face, config.loss,
                          face_crop_size=config.model.face_crop_size, name="animegan")
    gan.compile(optimizers.generator, optimizers.discriminator, jit_compile=config.train.jit_compile)
    # Marks both as built: fit() on them (which a user may call; the run uses `loop`) would
    # otherwise trace call() on the whole 5-tuple batch under a distribution strategy and fail.
    for model in (warmup, gan):
        model(np.zeros((1, 16, 16, 3), np.float32))
    for optimizer, variables in ((warmup.optimizer, generator.trainable_variables),
                                 (gan.g_optimizer, generator.trainable_variables),
                                 (gan.d_optimizer, discriminator.trainable_variables)):
        optimizer.build(variables)  # so a checkpoint restores into existing slots
    return warmup, gan


def train(config, verbose=1):
    """Runs (or resumes) warm-up then GAN training as `config` says under TensorFlow. Returns the
    epochs done. (`animegan_face.training.train` picks this or the JAX path.)"""
    run = RunFolder(config.train.model_dir)
    run.write_config(config)
    keras.utils.set_random_seed(config.train.seed)
    set_precision_policy(config)
    files = resolve_dataset(config)
    steps = steps_per_epoch(config, files)
    strategy = tf_strategy(config.train.strategy)
    total_epochs = config.train.init_epochs + config.train.epochs
    check_batch_split(config.data.batch_size, strategy.num_replicas_in_sync, "replicas")
    # Every worker saves (saving may need collectives), but only the chief owns model_dir; the
    # others write the same files to a folder of their own, deleted at the end.
    chief = cluster.is_chief(strategy)
    output = run if chief else RunFolder(tempfile.mkdtemp(prefix="animegan_worker_"))
    try:
        return _train_in(config, strategy, files, steps, total_epochs, run, output, verbose)
    finally:
        if not chief:
            shutil.rmtree(output.root, ignore_errors=True)


def _train_in(config, strategy, files, steps, total_epochs, run, output, verbose):
    """Builds, restores and trains; checkpoints and outputs go to the `output` RunFolder.

    The checkpoint is read from `run`'s checkpoints on every worker, so that all resume from the
    chief's (model_dir must then be on a file system every worker sees).
    """
    with strategy.scope():
        warmup, gan = build_trainers(config)
    state = (gan.generator, gan.discriminator, warmup.optimizer, gan.g_optimizer, gan.d_optimizer)
    checkpoint = training_checkpoint(output.checkpoints_dir, *state)
    counters = Counters()
    latest = run.latest_checkpoint()
    if latest is not None:
        counters.epoch, counters.step = checkpoint.restore(latest)
    elif run.legacy_tensorflow_checkpoint() is not None:
        latest = run.legacy_tensorflow_checkpoint()
        counters.epoch, counters.step = restore_legacy_checkpoint(latest, *state)
    if latest is not None:
        print(f"Resuming from {latest}: {counters.epoch} of {total_epochs} epochs done, "
              f"step {counters.step}")
        # A kill between the checkpoint and the generator file leaves the latter an epoch behind.
        output.save_generator(gan.generator)
    else:
        counters.epoch, counters.step = warm_start(config, gan.generator, gan.discriminator, steps)
    multi_worker = config.train.strategy == "multi_worker"
    if multi_worker:
        cluster.check_workers_agree(strategy, counters.epoch, counters.step, gan.generator,
                                    "after restoring")

    saved_variables = (gan.generator.weights + gan.discriminator.weights + warmup.optimizer.variables
                       + gan.g_optimizer.variables + gan.d_optimizer.variables)
    run_log = RunLog(output, {"init": warmup.optimizer, "generator": gan.g_optimizer,
                              "discriminator": gan.d_optimizer},
                     sample_photos(files, config.data.image_size))
    callbacks = [
        EpochCheckpoint(checkpoint, counters, output, saved_variables, latest),
        TensorBoardLogger(run_log, counters, lambda photos: gan.generator(photos, training=False),
                          gradient_norms=_gan_gradient_norms(gan, files, config)),
    ]
    jit_compile = config.train.jit_compile
    phases = ((StrategySteps(warmup, strategy, jit_compile), config.train.init_epochs),
              (StrategySteps(gan, strategy, jit_compile), total_epochs))
    with _batches(files, config, counters.epoch, strategy) as batches:
        try:
            run_epochs(phases, batches, counters, total_epochs, steps, callbacks, verbose)
        finally:
            run_log.close()
    if multi_worker:
        cluster.check_workers_agree(strategy, counters.epoch, counters.step, gan.generator,
                                    "at the end")
    return counters.epoch


@contextlib.contextmanager
def _batches(files, config, epoch, strategy):
    """The pipeline's batches as the train steps take them (each 5-tuple as x alone). On one
    replica the numpy batches go straight into the step, which halves the input's cost against
    tf.data's hand-over (bench/input_pipeline.py); several replicas take them through tf.data,
    which splits each global batch among them (and shards by data across workers)."""
    size, batch_size = config.data.image_size, config.data.batch_size
    seed = config.train.seed + epoch
    if strategy.num_replicas_in_sync == 1 and config.train.strategy != "multi_worker":
        with NumpyBatches(files, size, batch_size, seed=seed) as batches:
            yield ((batch,) for batch in batches)
    else:
        dataset = as_fit_input(make_dataset(files, size, batch_size, seed=seed))
        yield iter(strategy.experimental_distribute_dataset(dataset))


def _gan_gradient_norms(gan, files, config):
    """callable(epoch) -> each weighted term's gradient norms on a fixed real batch, after the GAN
    epochs (the warm-up has one term)."""
    batch = diagnostic_batch(files, config.data.image_size)

    def measure(epoch):
        if epoch <= config.train.init_epochs:
            return {}
        return diagnostics.term_gradient_norms(
            gan.generator, gan.discriminator, gan.content_extractor, gan.face_extractor, batch,
            config.loss, config.model.face_crop_size)
    return measure


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
