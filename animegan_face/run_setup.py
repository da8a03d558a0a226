"""Backend-independent pieces of a training run: config.json, the dataset, epoch length, samples,
the optimizers, the checks made before anything is built, the atomic generator file and the
non-finite stop.

No TensorFlow here, so that the JAX training path (`jax_training`) can use them.
"""

import json
import math
import os
import pathlib

import keras
import numpy as np

from animegan_face.config import run_generator
from animegan_face.image_files import write_file_atomic
from animegan_face.keras_checkpoint import KerasCheckpoint
from animegan_face.pipeline import load_anime, load_dataset_files, load_photo
from animegan_face.preparation import prepare_dataset

SAMPLE_COUNT = 4


class SetupError(ValueError):
    """The run cannot start: the dataset cannot be prepared or read (the folder or file is named),
    or the batch does not split evenly over the devices."""


def resolve_dataset(config):
    """Prepares photo_dir/anime_dir into dataset_dir when given (cached); returns its files.

    Raises SetupError, naming the folder or file at fault.
    """
    data = config.data
    dataset_dir = data.dataset_dir or str(pathlib.Path(config.train.model_dir) / "dataset")
    try:
        if data.photo_dir:
            report = prepare_dataset(data.photo_dir, data.anime_dir, dataset_dir,
                                     image_size=data.image_size)
            print(report.summary())
        return load_dataset_files(dataset_dir)
    except (ValueError, OSError) as error:
        raise SetupError(str(error)) from error


def steps_per_epoch(config, files):
    """config.train.steps_per_epoch, else max(#photos, #anime) // global batch (at least 1)."""
    if config.train.steps_per_epoch:
        return config.train.steps_per_epoch
    return max(1, files.steps_per_epoch_basis // config.data.batch_size)


def sample_photos(files, image_size):
    """The first `SAMPLE_COUNT` photos, (K, S, S, 3) in [-1, 1]: shown beside their stylisation."""
    count = min(SAMPLE_COUNT, len(files.photos))
    return np.stack([load_photo(files.photos[k], files.photo_boxes[k], image_size)[0]
                     for k in range(count)])


def set_precision_policy(config):
    """Sets Keras' global dtype policy for the run: float32, mixed_bfloat16 or mixed_float16.

    Call before building any network. Variables stay float32 under both mixed policies; the loss
    terms cast to float32 (`losses`), normalisation layers compute their statistics in float32
    (Keras' GroupNormalization upcasts) and both networks' output layers are float32.
    """
    policy = {"off": "float32", "bfloat16": "mixed_bfloat16", "float16": "mixed_float16"}
    keras.mixed_precision.set_global_policy(policy[config.train.mixed_precision])


def diagnostic_batch(files, image_size, count=8):
    """A fixed real batch for `diagnostics` (photo, face_boxes, anime, anime_gray, smooth_gray):
    the first `count` photos with a detected face (faceless ones if there are too few) and the
    first `count` anime images, unflipped; numpy, so every backend can use it."""
    order = sorted(range(len(files.photos)), key=lambda k: not files.photo_boxes[k].any())
    photos = [load_photo(files.photos[k], files.photo_boxes[k], image_size)
              for k in (order * count)[:count]]
    anime = [load_anime(files.anime[k], files.smooth[k], image_size)
             for k in (list(range(len(files.anime))) * count)[:count]]
    return (np.stack([p for p, _ in photos]), np.stack([b for _, b in photos]),
            *(np.stack(parts) for parts in zip(*anime)))


def make_adam(learning_rate, config):
    """Adam with the run's betas; wrapped for loss scaling under float16 (bfloat16 has float32's
    exponent range, so its gradients need no scaling)."""
    optimizer = keras.optimizers.Adam(learning_rate, beta_1=config.train.beta_1,
                                      beta_2=config.train.beta_2)
    if config.train.mixed_precision == "float16":
        optimizer = keras.optimizers.LossScaleOptimizer(optimizer)
    return optimizer


def write_config(model_dir, config):
    """Writes config.json, noting when it replaces different settings of an earlier run.

    Atomic: a kill while writing must not leave a config.json that breaks the resume. Raises
    SetupError, writing nothing, when the run's checkpoints hold another generator architecture.
    """
    path = pathlib.Path(model_dir) / "config.json"
    try:
        previous = json.loads(path.read_text())
    except (OSError, ValueError):  # none yet, or unreadable: it is rewritten below either way
        previous = None
    if previous is not None and _has_checkpoints(path.parent):
        was = run_generator(previous)
        if was != config.model.generator:
            raise SetupError(
                f"{path.parent} holds checkpoints of the {was} generator, which "
                f"--generator={config.model.generator} cannot resume: give --generator={was}, "
                "or start a new --model_dir")
    if previous is not None and previous != config.to_dict():
        print(f"Note: {path} differs from this run's settings; it is replaced by the new ones.")
    write_file_atomic(path, (config.to_json() + "\n").encode("utf-8"))


def check_batch_split(batch_size, count, what, names=()):
    """SetupError unless the global batch splits evenly over `count` replicas or devices (`names`).

    Each replica's mean loss is divided by the replica count: that equals the global mean only
    when every replica gets the same number of examples.
    """
    if batch_size % count:
        raise SetupError(f"--batch_size: the global batch ({batch_size}) must be a multiple of the "
                         f"number of {what} ({', '.join([str(count), *names])})")


_CHECKPOINTS = {
    # backend: how its latest checkpoint shows in model_dir/checkpoints
    "tensorflow": lambda folder: (folder / "checkpoint").is_file(),  # tf.train.CheckpointManager
    "jax": lambda folder: KerasCheckpoint(folder, {}, {}).latest is not None,
}


def _has_checkpoints(model_dir):
    folder = pathlib.Path(model_dir) / "checkpoints"
    return folder.is_dir() and any(found(folder) for found in _CHECKPOINTS.values())


def refuse_other_backend_run(model_dir, backend):
    """SetupError when model_dir holds only the other backend's checkpoints.

    The two backends keep their full state in different formats; starting over silently would
    overwrite the run's generator.weights.h5 with an untrained one.
    """
    folder = pathlib.Path(model_dir) / "checkpoints"
    other = "jax" if backend == "tensorflow" else "tensorflow"
    if folder.is_dir() and not _CHECKPOINTS[backend](folder) and _CHECKPOINTS[other](folder):
        raise SetupError(
            f"{model_dir} holds checkpoints of the {other} backend, which the {backend} backend "
            f"cannot resume: run again with KERAS_BACKEND={other}, or start a new --model_dir "
            f"(its {pathlib.Path(model_dir) / 'generator.weights.h5'} loads under either backend).")


class NonFiniteError(FloatingPointError):
    """A loss or a checkpointed variable went NaN or infinite; the message says where and what."""


def non_finite(values):
    """{name: value} of the entries of `values` (name -> number) that are NaN or infinite."""
    return {name: float(value) for name, value in (values or {}).items()
            if not math.isfinite(float(value))}


def non_finite_error(where, what, latest_checkpoint):
    """The NonFiniteError a run stops with: where, what, and what to do about it."""
    return NonFiniteError(
        f"{where}: {what}. Stopped without saving; the last good checkpoint is "
        f"{latest_checkpoint or 'none (nothing was saved yet)'}. Running the same command again "
        "resumes from it and will most likely diverge the same way: lower the learning rates "
        "(--g_lr, --d_lr, --init_lr) or the --adv_weight first.")


def warm_start(config, generator, discriminator, steps):
    """Loads config.train.init_from's generator.weights.h5 (and discriminator.weights.h5 where
    present) into a new run; returns the (epoch, step) counters it then starts from: the warm-up
    counts as done, since the generator is already trained. (0, 0) when init_from is empty.
    Raises SetupError naming the file that is missing or does not fit."""
    if not config.train.init_from:
        return 0, 0
    folder = pathlib.Path(config.train.init_from)
    for name, network, required in (("generator", generator, True),
                                    ("discriminator", discriminator, False)):
        path = folder / f"{name}.weights.h5"
        if not path.is_file():
            if required:
                raise SetupError(f"--init_from: no {path.name} in {folder}")
            print(f"--init_from: no {path.name} in {folder}: the discriminator starts anew")
            continue
        try:
            network.load_weights(path)
        except ValueError as error:
            raise SetupError(f"--init_from: {path} does not fit this run's {name} "
                             f"(--generator={config.model.generator}?): {error}") from None
    print(f"Starting from {folder}: warm-up skipped")
    return config.train.init_epochs, config.train.init_epochs * steps


def save_weights_atomic(model, path):
    """model.save_weights(path) through a temporary file and a rename: `path` is never half written."""
    path = pathlib.Path(path)
    partial = path.with_name(path.name + ".partial.weights.h5")
    model.save_weights(partial)
    os.replace(partial, path)
