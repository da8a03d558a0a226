"""Keras callbacks of a training run: checkpoints with resume counters, NaN checks, TensorBoard logs."""

import pathlib

import keras
import numpy as np
import tensorflow as tf

from animegan_face.data.image_files import save_weights_atomic, write_image
from animegan_face.training.run_checks import NonFiniteError, check_losses_finite, check_variables_finite
from animegan_face.training.samples import side_by_side


class EpochCheckpoint(keras.callbacks.Callback):
    """Saves the full training state at the end of every epoch, and the generator weights alone;
    stops the run at the first step whose losses are not finite.

    The `tf.train.Checkpoint` holds both networks, the three optimizers and the `epoch` and `step`
    counters. `CheckpointManager` writes the data and index files before it updates its
    `checkpoint` state file (atomically), and the generator file is written under another name and
    renamed, so a kill during a save leaves the previous epoch as the latest, whole.

    Nothing non-finite is ever saved. The batch logs are the running means of the loss terms since
    the epoch began, so the first NaN or Inf in any term shows at the step that produced it: the run
    stops there (`NonFiniteError`, naming the step and the terms) without saving. Before each save,
    every floating variable in `variables` is checked too, because a step can write NaN weights
    while its own loss, computed before the update, was still finite.

    Args:
        manager: `tf.train.CheckpointManager` over the checkpoint.
        epoch, step: the int64 counter variables held by the checkpoint.
        generator: saved alone to `generator_path` (`.weights.h5`, written then renamed).
        variables: the variables the checkpoint holds (networks and optimizers), checked finite
            before each save; empty skips that check.
    """

    def __init__(self, manager, epoch, step, generator, generator_path, variables=()):
        super().__init__()
        self.manager = manager
        self.epoch = epoch
        self.step = step
        self.generator = generator
        self.generator_path = pathlib.Path(generator_path)
        self.variables = list(variables)
        self._current_epoch = 0

    def _check(self, check, *args, **kwargs):
        """Runs a `run_checks` check; on NonFiniteError stops fit() before re-raising."""
        try:
            check(*args, latest_checkpoint=self.manager.latest_checkpoint, **kwargs)
        except NonFiniteError:
            self.model.stop_training = True
            raise

    def on_epoch_begin(self, epoch, logs=None):
        self._current_epoch = epoch

    def on_train_batch_end(self, batch, logs=None):
        self.step.assign_add(1)
        self._check(check_losses_finite, logs, f"step {int(self.step.numpy())} (epoch "
                    f"{self._current_epoch + 1}, batch {batch + 1})")

    def on_epoch_end(self, epoch, logs=None):
        self._check(check_losses_finite, logs, f"epoch {epoch + 1}", what="losses")
        self._check(check_variables_finite, [(v.path, v) for v in self.variables],
                    f"epoch {epoch + 1}")
        self.epoch.assign(epoch + 1)
        self.manager.save(checkpoint_number=epoch + 1)
        save_weights_atomic(self.generator, self.generator_path)


class TensorBoardLogger(keras.callbacks.Callback):
    """Every loss term and learning rate as scalars, and a sample grid each epoch.

    Scalars are written every `every_steps` steps at the run's global step (restored on resume, so
    curves continue), as `train/<term>`; the epoch means as `epoch/<term>`. The grid shows fixed
    sample photos beside their stylisation (`samples`), also saved as `sample_path(epoch)`.

    Args:
        log_dir: TensorBoard log folder.
        step: the checkpointed global step variable.
        learning_rates: mapping name -> optimizer, logged as `lr/<name>`.
        sample_photos: float (K, S, S, 3) photos in [-1, 1].
        generator: the generator whose output is shown.
        sample_path: callable(epoch counted from 1) -> the PNG file of that epoch's grid.
        gradient_norms: optional callable(model) -> {name: norm}, called at each epoch's end with
            the model being fit and logged as `grad_norm/<name>` (see `diagnostics`).
    """

    def __init__(self, log_dir, step, learning_rates, sample_photos, generator, sample_path,
                 every_steps=10, gradient_norms=None):
        super().__init__()
        self.writer = tf.summary.create_file_writer(str(log_dir))
        self.step = step
        self.learning_rates = learning_rates
        self.sample_photos = sample_photos
        self.generator = generator
        self.sample_path = sample_path
        self.every_steps = every_steps
        self.gradient_norms = gradient_norms

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
        norms = self.gradient_norms(self.model) if self.gradient_norms else {}
        with self.writer.as_default(step=step):
            tf.summary.image("samples/photo_vs_stylised", grid[None], step=step)
            for name, value in norms.items():
                tf.summary.scalar(f"grad_norm/{name}", value)
        write_image(self.sample_path(epoch + 1), grid)
        self.writer.flush()
