"""Helper of tests/test_faults.py (not a test): runs a training script that stops itself (SIGSTOP)
at the end of one batch, for the test to kill -9 it there.

    python tests/stop_in_epoch.py EPOCH BATCH train.py FLAGS...   # EPOCH, BATCH counted from 0

The training loop (`animegan_face.training.loop.run_epochs`, both backends) gets one more callback,
which stops the process after batch BATCH of epoch EPOCH. A kill timed on the progress bar instead raced the epoch's remaining steps:
a fast enough CPU would finish the epoch, and save its checkpoint, before the kill arrived.
"""

import os
import runpy
import signal
import sys

import keras


class _StopAfterBatch(keras.callbacks.Callback):
    def __init__(self, epoch, batch):
        super().__init__()
        self.stop_epoch, self.stop_batch, self.epoch = epoch, batch, None

    def on_epoch_begin(self, epoch, logs=None):
        self.epoch = epoch

    def on_train_batch_end(self, batch, logs=None):
        if (self.epoch, batch) == (self.stop_epoch, self.stop_batch):
            sys.stdout.flush()
            sys.stderr.flush()
            os.kill(os.getpid(), signal.SIGSTOP)


def main():
    epoch, batch, script = int(sys.argv[1]), int(sys.argv[2]), sys.argv[3]
    sys.path.insert(0, os.path.dirname(os.path.abspath(script)))
    from animegan_face.training import loop

    run_epochs = loop.run_epochs

    def run_epochs_then_stop(phases, batches, counters, total_epochs, steps_per_epoch, callbacks,
                             *args, **kwargs):
        return run_epochs(phases, batches, counters, total_epochs, steps_per_epoch,
                          [*callbacks, _StopAfterBatch(epoch, batch)], *args, **kwargs)

    # Before train.py imports the backend's training module, which binds `run_epochs` by name.
    loop.run_epochs = run_epochs_then_stop
    sys.argv = sys.argv[3:]
    runpy.run_path(script, run_name="__main__")


if __name__ == "__main__":
    main()
