"""The library side of train.py: one `Config` in, a trained (or resumed) run in `model_dir` out.

model_dir/
    config.json                 the resolved Config of the run
    checkpoints/ckpt-N.*        full state after epoch N (networks, optimizers, counters)
    generator.weights.h5        the generator alone, latest epoch (for export and stylize)
    logs/                       TensorBoard: every loss term, learning rates, sample grids
    samples/epoch_NNN.png       sample photos beside their stylisation, each epoch
"""

import json
import pathlib
import shutil
import tempfile

import keras
import numpy as np
import tensorflow as tf

from animegan_face import custom_loop
from animegan_face.callbacks import EpochCheckpoint, TensorBoardLogger, save_weights_atomic
from animegan_face.extractors import build_content_extractor, build_face_extractor
from animegan_face.image_files import write_file_atomic
from animegan_face.networks import build_discriminator, build_generator
from animegan_face.pipeline import load_dataset_files, load_photo, make_dataset
from animegan_face.preparation import prepare_dataset
from animegan_face.trainer import AnimeGANTrainer, GeneratorWarmup, as_fit_input

SAMPLE_COUNT = 4


class SetupError(ValueError):
    """The run cannot start: the dataset cannot be prepared or read (the folder or file is named),
    or the batch does not split evenly over the replicas."""


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


def resolve_dataset(config):
    """Prepares photo_dir/anime_dir into dataset_dir when given (cached); returns its files."""
    data = config.data
    dataset_dir = data.dataset_dir or str(pathlib.Path(config.train.model_dir) / "dataset")
    try:
        if data.photo_dir:
            report = prepare_dataset(data.photo_dir, data.anime_dir, dataset_dir, image_size=data.image_size)
            print(report.summary())
        return load_dataset_files(dataset_dir)
    except (ValueError, OSError) as error:  # each names the folder or file at fault
        raise SetupError(str(error)) from error


def steps_per_epoch(config, files):
    if config.train.steps_per_epoch:
        return config.train.steps_per_epoch
    return max(1, files.steps_per_epoch_basis // config.data.batch_size)


def _adam(learning_rate, config):
    optimizer = keras.optimizers.Adam(learning_rate, beta_1=config.train.beta_1,
                                      beta_2=config.train.beta_2)
    if config.train.mixed_precision:
        optimizer = keras.optimizers.LossScaleOptimizer(optimizer)
    return optimizer


def build_trainers(config):
    """Networks, frozen extractors and both training models, compiled. Call inside a strategy scope."""
    generator = build_generator()
    discriminator = build_discriminator()
    content = build_content_extractor(config.model.extractor, config.model.extractor_weights)
    face = build_face_extractor(config.model.face_extractor, config.model.face_extractor_weights,
                                config.model.face_crop_size)
    warmup = GeneratorWarmup(generator, content, config.loss, name="warmup")
    warmup.compile(_adam(config.train.init_lr, config), jit_compile=config.train.jit_compile)
    gan = AnimeGANTrainer(generator, discriminator, content, face, config.loss,
                          face_crop_size=config.model.face_crop_size, name="animegan")
    gan.compile(_adam(config.train.g_lr, config), _adam(config.train.d_lr, config),
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


def _sample_photos(files, image_size):
    count = min(SAMPLE_COUNT, len(files.photos))
    return np.stack([load_photo(files.photos[k], files.photo_boxes[k], image_size)[0] for k in range(count)])


def train(config, verbose=1):
    """Runs (or resumes) warm-up then GAN training as `config` says. Returns the epochs done."""
    if keras.backend.backend() == "jax":  # the same run without TensorFlow ops (jax_training)
        from animegan_face import jax_training

        return jax_training.train(config, verbose)
    model_dir = pathlib.Path(config.train.model_dir)
    model_dir.mkdir(parents=True, exist_ok=True)
    _write_config(model_dir, config)
    keras.utils.set_random_seed(config.train.seed)
    if config.train.mixed_precision:
        keras.mixed_precision.set_global_policy("mixed_float16")
    files = resolve_dataset(config)
    steps = steps_per_epoch(config, files)
    strategy = make_strategy(config.train.strategy)
    total_epochs = config.train.init_epochs + config.train.epochs
    _check_batch_split(config.data.batch_size, strategy.num_replicas_in_sync)
    # Every worker saves (saving may need collectives), but only the chief owns model_dir; the
    # others write the same files to a folder of their own, deleted at the end.
    chief = custom_loop.is_chief(strategy)
    output_dir = model_dir if chief else pathlib.Path(tempfile.mkdtemp(prefix="animegan_worker_"))
    try:
        return _train_in(config, strategy, files, steps, total_epochs, model_dir, output_dir, verbose)
    finally:
        if not chief:
            shutil.rmtree(output_dir, ignore_errors=True)


def _check_batch_split(batch_size, replicas):
    # Each replica takes batch_size / replicas examples, and each replica's mean loss is divided
    # by the replica count: that equals the global mean only when the split is even.
    if batch_size % replicas:
        raise SetupError(f"--batch_size: the global batch ({batch_size}) must be a multiple of the "
                         f"number of replicas ({replicas})")


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
                          _sample_photos(files, config.data.image_size), gan.generator,
                          output_dir / "samples"),
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


def _fit(model, strategy, config, **kwargs):
    """model.fit(); under multi_worker the same train steps and callbacks in custom_loop.fit,
    because Keras 3.15's fit() fails under MultiWorkerMirroredStrategy."""
    if config.train.strategy == "multi_worker":
        return custom_loop.fit(model, strategy, jit_compile=config.train.jit_compile, **kwargs)
    return model.fit(shuffle=False, **kwargs)


def _write_config(model_dir, config):
    path = model_dir / "config.json"
    try:
        previous = json.loads(path.read_text())
    except (OSError, ValueError):  # none yet, or unreadable: it is rewritten below either way
        previous = None
    if previous is not None and previous != config.to_dict():
        print(f"Note: {path} differs from this run's settings; it is replaced by the new ones.")
    # Atomic: a kill while writing must not leave a config.json that breaks the resume.
    write_file_atomic(path, (config.to_json() + "\n").encode("utf-8"))
