"""Keras callbacks of a TensorFlow training run: checkpoints with resume counters, NaN checks, and
the step and epoch ends handed to the run's log."""

import pathlib

import keras

from animegan_face.data.image_files import save_weights_atomic
from animegan_face.training.run_checks import (
    NonFiniteError, check_losses_finite, check_variables_finite)


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
    """Hands fit()'s step and epoch ends to a `run_log.RunLog` (the JAX path calls it directly).

    Args:
        run_log: the run's `RunLog`.
        step: the checkpointed global step variable (restored on resume, so curves continue).
        generator: the generator whose output for the sample photos is shown each epoch.
        gradient_norms: optional callable(model) -> {name: norm}, called at each epoch's end with
            the model being fit and logged as `grad_norm/<name>` (see `diagnostics`).
    """

    def __init__(self, run_log, step, generator, gradient_norms=None):
        super().__init__()
        self.run_log = run_log
        self.step = step
        self.generator = generator
        self.gradient_norms = gradient_norms

    def on_train_batch_end(self, batch, logs=None):
        self.run_log.step_end(logs, int(self.step.numpy()))

    def on_epoch_end(self, epoch, logs=None):
        stylised = self.generator(self.run_log.sample_photos, training=False)
        norms = self.gradient_norms(self.model) if self.gradient_norms else {}
        self.run_log.epoch_end(epoch + 1, int(self.step.numpy()), logs, stylised, norms)
