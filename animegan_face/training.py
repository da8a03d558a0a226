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

import keras
import numpy as np
import tensorflow as tf

from animegan_face.callbacks import EpochCheckpoint, TensorBoardLogger
from animegan_face.extractors import build_content_extractor, build_face_extractor
from animegan_face.networks import build_discriminator, build_generator
from animegan_face.pipeline import load_dataset_files, load_photo, make_dataset
from animegan_face.preparation import prepare_dataset
from animegan_face.trainer import AnimeGANTrainer, GeneratorWarmup, as_fit_input

SAMPLE_COUNT = 4


def make_strategy(name):
    """auto: MirroredStrategy over all GPUs when there are any, else the default strategy."""
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
    if data.photo_dir:
        report = prepare_dataset(data.photo_dir, data.anime_dir, dataset_dir, image_size=data.image_size)
        print(report.summary())
    return load_dataset_files(dataset_dir)


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

    with strategy.scope():
        warmup, gan = build_trainers(config)
        epoch = tf.Variable(0, dtype=tf.int64, trainable=False, name="epoch")
        step = tf.Variable(0, dtype=tf.int64, trainable=False, name="step")
        checkpoint = tf.train.Checkpoint(
            generator=gan.generator, discriminator=gan.discriminator,
            init_optimizer=warmup.optimizer, g_optimizer=gan.g_optimizer,
            d_optimizer=gan.d_optimizer, epoch=epoch, step=step)
    manager = tf.train.CheckpointManager(checkpoint, model_dir / "checkpoints", max_to_keep=3)
    if manager.latest_checkpoint:
        checkpoint.restore(manager.latest_checkpoint).assert_existing_objects_matched()
        print(f"Resuming from {manager.latest_checkpoint}: {int(epoch.numpy())} of {total_epochs} "
              f"epochs done, step {int(step.numpy())}")

    dataset = as_fit_input(make_dataset(files, config.data.image_size, config.data.batch_size,
                                        seed=config.train.seed + int(epoch.numpy()),
                                        shuffle_buffer=config.data.shuffle_buffer))
    callbacks = [
        EpochCheckpoint(manager, epoch, step, gan.generator, model_dir / "generator.weights.h5"),
        TensorBoardLogger(model_dir / "logs", step,
                          {"init": warmup.optimizer, "generator": gan.g_optimizer,
                           "discriminator": gan.d_optimizer},
                          _sample_photos(files, config.data.image_size), gan.generator,
                          model_dir / "samples"),
    ]
    done = int(epoch.numpy())
    if done < config.train.init_epochs:
        warmup.fit(dataset, initial_epoch=done, epochs=config.train.init_epochs,
                   steps_per_epoch=steps, callbacks=callbacks, verbose=verbose, shuffle=False)
    done = int(epoch.numpy())
    if done < total_epochs:
        gan.fit(dataset, initial_epoch=max(done, config.train.init_epochs), epochs=total_epochs,
                steps_per_epoch=steps, callbacks=callbacks, verbose=verbose, shuffle=False)
    return int(epoch.numpy())


def _write_config(model_dir, config):
    path = model_dir / "config.json"
    if path.exists():
        previous = json.loads(path.read_text())
        if previous != config.to_dict():
            print(f"Note: {path} differs from this run's settings; it is replaced by the new ones.")
    path.write_text(config.to_json() + "\n")
