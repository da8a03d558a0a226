"""The callbacks of a training run, under both backends (`loop.run_epochs` calls them): checkpoints
with resume counters, NaN checks, and the step and epoch ends handed to the run's log."""

import dataclasses

import keras

from animegan_face.training.run_checks import check_losses_finite, check_variables_finite


@dataclasses.dataclass
class Counters:
    """The epochs done and the global step of a run: saved with every checkpoint, restored on
    resume, counted up by `EpochCheckpoint`, read by the logs."""

    epoch: int = 0
    step: int = 0


class EpochCheckpoint(keras.callbacks.Callback):
    """Saves the full training state at the end of every epoch, and the generator weights alone;
    stops the run at the first step whose losses are not finite.

    The checkpoint (`keras_checkpoint.training_checkpoint`) holds both networks, the three
    optimizers and the counters; it is written into a folder of its own and renamed once
    complete, and the generator file is copied from it through a temporary file and a rename, so a
    kill during a save leaves the previous epoch as the latest, whole.

    Nothing non-finite is ever saved. The batch logs are the running means of the loss terms since
    the epoch began, so the first NaN or Inf in any term shows at the step that produced it: the run
    stops there (`NonFiniteError`, naming the step and the terms) without saving. Before each save,
    every floating variable in `variables` is checked too, because a step can write NaN weights
    while its own loss, computed before the update, was still finite.

    Args:
        checkpoint: the run's `KerasCheckpoint`, writing to `run_folder`'s checkpoints.
        counters: the run's `Counters`, restored or zero.
        run_folder: the `RunFolder` whose generator.weights.h5 follows each checkpoint.
        variables: the variables the checkpoint holds (networks and optimizers), checked finite
            before each save; empty skips that check.
        latest: the checkpoint the run resumed from (either format), None for a new run; the NaN
            message names it until the first save.
    """

    def __init__(self, checkpoint, counters, run_folder, variables=(), latest=None):
        super().__init__()
        self.checkpoint = checkpoint
        self.counters = counters
        self.run_folder = run_folder
        self.variables = list(variables)
        self.latest = latest
        self._current_epoch = 0

    def _check(self, check, *args, **kwargs):
        """Runs a `run_checks` check; its NonFiniteError ends the loop before anything is saved."""
        check(*args, latest_checkpoint=self.latest, **kwargs)

    def on_epoch_begin(self, epoch, logs=None):
        self._current_epoch = epoch

    def on_train_batch_end(self, batch, logs=None):
        self.counters.step += 1
        self._check(check_losses_finite, logs, f"step {self.counters.step} (epoch "
                    f"{self._current_epoch + 1}, batch {batch + 1})")

    def on_epoch_end(self, epoch, logs=None):
        self._check(check_losses_finite, logs, f"epoch {epoch + 1}", what="losses")
        self._check(check_variables_finite, [(v.path, v) for v in self.variables],
                    f"epoch {epoch + 1}")
        self.counters.epoch = epoch + 1
        self.latest = self.checkpoint.save(self.counters.epoch, self.counters.step)
        self.run_folder.copy_generator(self.latest / "generator.weights.h5")


class TensorBoardLogger(keras.callbacks.Callback):
    """Hands the loop's step and epoch ends to a `run_log.RunLog`.

    Args:
        run_log: the run's `RunLog`.
        counters: the run's `Counters` (restored on resume, so curves continue).
        stylise: callable(photos) -> the generator's output in inference mode, shown each epoch
            beside `run_log.sample_photos`.
        gradient_norms: optional callable(epoch) -> {name: norm}, called at the end of each epoch
            (counted from 1) and logged as `grad_norm/<name>` (see `diagnostics`).
    """

    def __init__(self, run_log, counters, stylise, gradient_norms=None):
        super().__init__()
        self.run_log = run_log
        self.counters = counters
        self.stylise = stylise
        self.gradient_norms = gradient_norms

    def on_train_batch_end(self, batch, logs=None):
        self.run_log.step_end(logs, self.counters.step)

    def on_epoch_end(self, epoch, logs=None):
        stylised = self.stylise(self.run_log.sample_photos)
        norms = self.gradient_norms(epoch + 1) if self.gradient_norms else {}
        self.run_log.epoch_end(epoch + 1, self.counters.step, logs, stylised, norms)
