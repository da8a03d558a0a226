"""The library side of train.py: one `Config` in, a trained (or resumed) run in `model_dir` out.

model_dir/
    config.json                 the resolved Config of the run
    checkpoints/ckpt-N.*        full state after epoch N (networks, optimizers, counters)
    generator.weights.h5        the generator alone, latest epoch (for export and stylize)
    logs/                       TensorBoard: every loss term, learning rates, sample grids
    samples/epoch_NNN.png       sample photos beside their stylisation, each epoch
"""

import pathlib
import shutil
import tempfile

import keras
import numpy as np
import tensorflow as tf

from animegan_face import custom_loop, diagnostics
from animegan_face.callbacks import EpochCheckpoint, TensorBoardLogger, save_weights_atomic
from animegan_face.extractors import build_loss_extractors
from animegan_face.networks import build_discriminator, build_generator
from animegan_face.pipeline import make_dataset
from animegan_face.run_setup import (  # noqa: F401  (SetupError: raised from here too)
    SetupError, check_batch_split, diagnostic_batch, make_adam, refuse_other_backend_run,
    resolve_dataset, sample_photos, set_precision_policy, steps_per_epoch, warm_start, write_config)
from animegan_face.trainer import AnimeGANTrainer, GeneratorWarmup, as_fit_input

def make_strategy(name):
    """auto: MirroredStrategy over all GPUs when there are any, else the default strategy.

    multi_worker: MultiWorkerMirroredStrategy over the cluster in TF_CONFIG. It is created before
    anything else touches the devices: TensorFlow configures collective ops only at start-up.
    """
    if name == "multi_worker":
        return custom_loop.make_multi_worker_strategy()
    gpus = tf.config.list_logical_devices("GPU")
    if name == "auto":
        return tf.distribute.MirroredStrategy() if gpus else tf.distribute.get_strategy()
    if name == "mirrored":
        return tf.distribute.MirroredStrategy()
    if name == "one_device":
        return tf.distribute.OneDeviceStrategy("/gpu:0" if gpus else "/cpu:0")
    raise ValueError(f"strategy: unknown {name!r}")


def build_trainers(config):
    """Networks, frozen extractors and both training models, compiled. Call inside a strategy scope."""
    generator = build_generator(config.model.generator)
    discriminator = build_discriminator()
    content, face = build_loss_extractors(config.model, config.loss)
    warmup = GeneratorWarmup(generator, content, config.loss, name="warmup")
    warmup.compile(make_adam(config.train.init_lr, config), jit_compile=config.train.jit_compile)
    gan = AnimeGANTrainer(generator, discriminator, content, face, config.loss,
                          face_crop_size=config.model.face_crop_size, name="animegan")
    gan.compile(make_adam(config.train.g_lr, config), make_adam(config.train.d_lr, config),
                jit_compile=config.train.jit_compile)
    # Marks both as built: under a distribution strategy fit() would otherwise trace call() on
    # the whole 5-tuple batch and fail.
    for model in (warmup, gan):
        model(np.zeros((1, 16, 16, 3), np.float32))
    for optimizer, variables in ((warmup.optimizer, generator.trainable_variables),
                                 (gan.g_optimizer, generator.trainable_variables),
                                 (gan.d_optimizer, discriminator.trainable_variables)):
        optimizer.build(variables)  # so a checkpoint restores into existing slots
    return warmup, gan


def train(config, verbose=1):
    """Runs (or resumes) warm-up then GAN training as `config` says. Returns the epochs done."""
    if keras.backend.backend() == "jax":  # the same run without TensorFlow ops (jax_training)
        from animegan_face import jax_training

        return jax_training.train(config, verbose)
    model_dir = pathlib.Path(config.train.model_dir)
    model_dir.mkdir(parents=True, exist_ok=True)
    refuse_other_backend_run(model_dir, "tensorflow")
    write_config(model_dir, config)
    keras.utils.set_random_seed(config.train.seed)
    set_precision_policy(config)
    files = resolve_dataset(config)
    steps = steps_per_epoch(config, files)
    strategy = make_strategy(config.train.strategy)
    total_epochs = config.train.init_epochs + config.train.epochs
    check_batch_split(config.data.batch_size, strategy.num_replicas_in_sync, "replicas")
    # Every worker saves (saving may need collectives), but only the chief owns model_dir; the
    # others write the same files to a folder of their own, deleted at the end.
    chief = custom_loop.is_chief(strategy)
    output_dir = model_dir if chief else pathlib.Path(tempfile.mkdtemp(prefix="animegan_worker_"))
    try:
        return _train_in(config, strategy, files, steps, total_epochs, model_dir, output_dir, verbose)
    finally:
        if not chief:
            shutil.rmtree(output_dir, ignore_errors=True)


def _train_in(config, strategy, files, steps, total_epochs, model_dir, output_dir, verbose):
    """Builds, restores and trains; checkpoints and outputs go to `output_dir`.

    The checkpoint is read from model_dir/checkpoints on every worker, so that all resume from the
    chief's (model_dir must then be on a file system every worker sees).
    """
    with strategy.scope():
        warmup, gan = build_trainers(config)
        epoch = tf.Variable(0, dtype=tf.int64, trainable=False, name="epoch")
        step = tf.Variable(0, dtype=tf.int64, trainable=False, name="step")
        checkpoint = tf.train.Checkpoint(
            generator=gan.generator, discriminator=gan.discriminator,
            init_optimizer=warmup.optimizer, g_optimizer=gan.g_optimizer,
            d_optimizer=gan.d_optimizer, epoch=epoch, step=step)
    manager = tf.train.CheckpointManager(checkpoint, output_dir / "checkpoints", max_to_keep=3)
    latest = tf.train.latest_checkpoint(model_dir / "checkpoints")
    if latest:
        checkpoint.restore(latest).assert_existing_objects_matched()
        print(f"Resuming from {latest}: {int(epoch.numpy())} of {total_epochs} "
              f"epochs done, step {int(step.numpy())}")
        # A kill between the checkpoint and the generator file leaves the latter an epoch behind.
        save_weights_atomic(gan.generator, output_dir / "generator.weights.h5")
    else:
        started = warm_start(config, gan.generator, gan.discriminator, steps)
        epoch.assign(started[0])
        step.assign(started[1])
    multi_worker = config.train.strategy == "multi_worker"
    if multi_worker:
        custom_loop.check_workers_agree(strategy, epoch, step, gan.generator, "after restoring")

    dataset = as_fit_input(make_dataset(files, config.data.image_size, config.data.batch_size,
                                        seed=config.train.seed + int(epoch.numpy()),
                                        shuffle_buffer=config.data.shuffle_buffer))
    saved_variables = (gan.generator.weights + gan.discriminator.weights + warmup.optimizer.variables
                       + gan.g_optimizer.variables + gan.d_optimizer.variables)
    callbacks = [
        EpochCheckpoint(manager, epoch, step, gan.generator, output_dir / "generator.weights.h5",
                        saved_variables),
        TensorBoardLogger(output_dir / "logs", step,
                          {"init": warmup.optimizer, "generator": gan.g_optimizer,
                           "discriminator": gan.d_optimizer},
                          sample_photos(files, config.data.image_size), gan.generator,
                          output_dir / "samples",
                          gradient_norms=_gan_gradient_norms(gan, files, config)),
    ]
    done = int(epoch.numpy())
    if done < config.train.init_epochs:
        _fit(warmup, strategy, config, x=dataset, initial_epoch=done, epochs=config.train.init_epochs,
             steps_per_epoch=steps, callbacks=callbacks, verbose=verbose)
    done = int(epoch.numpy())
    if done < total_epochs:
        _fit(gan, strategy, config, x=dataset, initial_epoch=max(done, config.train.init_epochs),
             epochs=total_epochs, steps_per_epoch=steps, callbacks=callbacks, verbose=verbose)
    if multi_worker:
        custom_loop.check_workers_agree(strategy, epoch, step, gan.generator, "at the end")
    return int(epoch.numpy())


def _gan_gradient_norms(gan, files, config):
    """callable(model) -> each weighted term's gradient norms on a fixed real batch, for the GAN
    epochs (the warm-up has one term)."""
    batch = diagnostic_batch(files, config.data.image_size)

    def measure(model):
        if model is not gan:
            return {}
        return diagnostics.term_gradient_norms(
            gan.generator, gan.discriminator, gan.content_extractor, gan.face_extractor, batch,
            config.loss, config.model.face_crop_size)
    return measure


def _fit(model, strategy, config, **kwargs):
    """model.fit(); under multi_worker the same train steps and callbacks in custom_loop.fit,
    because Keras 3.15's fit() fails under MultiWorkerMirroredStrategy."""
    if config.train.strategy == "multi_worker":
        return custom_loop.fit(model, strategy, jit_compile=config.train.jit_compile, **kwargs)
    return model.fit(shuffle=False, **kwargs)
