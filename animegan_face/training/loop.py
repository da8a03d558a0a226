"""The one training loop of both backends: epochs of steps over one stream of batches, the running
mean of every logged term, and the run's callbacks at each step's and epoch's end (checkpoint with
the NaN stop, TensorBoard and samples: `callbacks`; progress: Keras' progress bar).

What differs between the backends is only how a step runs, behind three methods (`Steps`):
TensorFlow runs a trainer's `train_step` under its tf.distribute strategy (`tf_training`), JAX
runs a jitted, stateless step over explicit state (`jax_training`). No TensorFlow here.
"""

import keras


class Steps:
    """How one backend runs one kind of step (warm-up or GAN); the loop calls only these."""

    def __call__(self, batch):
        """Starts one train step on `batch`; returns its logs (possibly still being computed)."""
        raise NotImplementedError

    def fetch(self, logs):
        """{name: float} of one step's logs, brought to the host (waits for that step)."""
        raise NotImplementedError

    def sync(self):
        """Makes the Keras variables hold the trained values (before a checkpoint or samples)."""


class EpochLogs:
    """Running means of the step logs over an epoch (what Keras' Mean trackers report)."""

    def __init__(self):
        self.sums, self.count = {}, 0

    def add(self, values):
        """Adds one step's {name: float}."""
        self.count += 1
        for name, value in values.items():
            self.sums[name] = self.sums.get(name, 0.0) + value

    def means(self):
        return {name: total / self.count for name, total in self.sums.items()}


def run_epochs(phases, batches, counters, total_epochs, steps_per_epoch, callbacks, verbose=1):
    """Trains from epoch `counters.epoch` on, through each phase in turn.

    Args:
        phases: sequence of (steps, end_epoch): `Steps` to run until `end_epoch` epochs are done
            (for example the warm-up's until init_epochs, then the GAN step's until the total);
            a phase already done is skipped.
        batches: iterator of batches, shared by the phases.
        counters: the run's `callbacks.Counters`; `counters.epoch` says where to start (the
            callbacks count it up).
        total_epochs: the run's last epoch, for the progress bar.
        callbacks: `keras.callbacks.Callback`s, given the running means of the epoch at each
            step's end and the epoch's means at its end (after `steps.sync()`).
        verbose: 0 silent, 1 Keras' progress bar.

    Step k+1 is started before step k's logs are read, so an accelerator never waits for the
    host's logging (a jitted JAX call returns at once; a TensorFlow step has finished anyway).
    Nothing is saved within an epoch, so a NaN found one step late is still never saved.
    """
    callback_list = keras.callbacks.CallbackList(
        callbacks, add_progbar=verbose != 0, verbose=verbose, epochs=total_epochs,
        steps=steps_per_epoch)
    callback_list.on_train_begin()
    for steps, end_epoch in phases:
        for epoch in range(counters.epoch, end_epoch):
            callback_list.on_epoch_begin(epoch)
            epoch_logs = EpochLogs()

            def record(logs, index):
                epoch_logs.add(steps.fetch(logs))
                callback_list.on_train_batch_end(index, epoch_logs.means())

            pending = None
            for index in range(steps_per_epoch):
                logs = steps(next(batches))
                if pending is not None:
                    record(*pending)
                pending = (logs, index)
            record(*pending)
            steps.sync()
            callback_list.on_epoch_end(epoch, epoch_logs.means())
    callback_list.on_train_end()
    return counters.epoch
