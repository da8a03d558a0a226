"""Keras callbacks of a training run: checkpoints with resume counters, and TensorBoard logging."""

import math
import os
import pathlib

import keras
import numpy as np
import tensorflow as tf

from animegan_face.image_files import write_image
from animegan_face.samples import side_by_side


class EpochCheckpoint(keras.callbacks.Callback):
    """Saves the full training state at the end of every epoch, and the generator weights alone.

    The `tf.train.Checkpoint` holds both networks, the three optimizers and the `epoch` and `step`
    counters; `CheckpointManager` writes the data files before it updates its index, so a kill
    during a save leaves the previous checkpoint as the latest. An epoch whose losses are not
    finite is not saved: the run stops with the last good checkpoint intact.

    Args:
        manager: `tf.train.CheckpointManager` over the checkpoint.
        epoch, step: the int64 counter variables held by the checkpoint.
        generator: saved alone to `generator_path` (`.weights.h5`, written then renamed).
    """

    def __init__(self, manager, epoch, step, generator, generator_path):
        super().__init__()
        self.manager = manager
        self.epoch = epoch
        self.step = step
        self.generator = generator
        self.generator_path = pathlib.Path(generator_path)

    def on_train_batch_end(self, batch, logs=None):
        self.step.assign_add(1)

    def on_epoch_end(self, epoch, logs=None):
        bad = {k: float(v) for k, v in (logs or {}).items() if not math.isfinite(float(v))}
        if bad:
            self.model.stop_training = True
            raise FloatingPointError(
                f"epoch {epoch + 1}: losses not finite {bad}; nothing saved, the last good "
                f"checkpoint is {self.manager.latest_checkpoint}")
        self.epoch.assign(epoch + 1)
        self.manager.save(checkpoint_number=epoch + 1)
        partial = self.generator_path.with_name(self.generator_path.name + ".partial.weights.h5")
        self.generator.save_weights(partial)
        os.replace(partial, self.generator_path)


class TensorBoardLogger(keras.callbacks.Callback):
    """Every loss term and learning rate as scalars, and a sample grid each epoch.

    Scalars are written every `every_steps` steps at the run's global step (restored on resume, so
    curves continue), as `train/<term>`; the epoch means as `epoch/<term>`. The grid shows fixed
    sample photos beside their stylisation (`samples`), also saved as `samples_dir/epoch_NNN.png`.

    Args:
        log_dir: TensorBoard log folder.
        step: the checkpointed global step variable.
        learning_rates: mapping name -> optimizer, logged as `lr/<name>`.
        sample_photos: float (K, S, S, 3) photos in [-1, 1].
        generator: the generator whose output is shown.
    """

    def __init__(self, log_dir, step, learning_rates, sample_photos, generator, samples_dir,
                 every_steps=10):
        super().__init__()
        self.writer = tf.summary.create_file_writer(str(log_dir))
        self.step = step
        self.learning_rates = learning_rates
        self.sample_photos = sample_photos
        self.generator = generator
        self.samples_dir = pathlib.Path(samples_dir)
        self.every_steps = every_steps

    def _scalars(self, prefix, logs, step):
        with self.writer.as_default(step=step):
            for name, value in (logs or {}).items():
                tf.summary.scalar(f"{prefix}/{name}", float(value))
            for name, optimizer in self.learning_rates.items():
                tf.summary.scalar(f"lr/{name}", float(np.asarray(optimizer.learning_rate)))

    def on_train_batch_end(self, batch, logs=None):
        step = int(self.step.numpy())
        if step % self.every_steps == 0:
            self._scalars("train", logs, step)

    def on_epoch_end(self, epoch, logs=None):
        step = int(self.step.numpy())
        self._scalars("epoch", logs, step)
        stylised = np.asarray(self.generator(self.sample_photos, training=False))
        grid = side_by_side(self.sample_photos, stylised)
        with self.writer.as_default(step=step):
            tf.summary.image("samples/photo_vs_stylised", grid[None], step=step)
        write_image(self.samples_dir / f"epoch_{epoch + 1:03d}.png", grid)
        self.writer.flush()
