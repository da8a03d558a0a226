"""Helper of tests/test_faults.py (not a test): saves epoch 1, then dies by SIGKILL inside epoch 2's save.

    python tests/kill_during_save.py MODEL_DIR checkpoint   # killed while the checkpoint data is
                                                            # half written, before the state update
    python tests/kill_during_save.py MODEL_DIR generator    # killed while generator.weights.h5 is
                                                            # half written

The state is the real one of a run (both networks, Adam optimizers with their slots, the epoch
and step counters) and it is saved by the real `EpochCheckpoint`; only the moment of death is
staged. `checkpoint`: a write callback, which TensorFlow runs after the data and index files are
written and before CheckpointManager records the new checkpoint, truncates the new data file to
half and kills the process, as a kill in the middle of writing it would leave it. `generator`:
`save_weights` writes half the file, then the process dies. Prints the generator's fingerprint
after epoch 1 on stdout.
"""

import os
import pathlib
import signal
import sys

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
sys.path.insert(0, str(pathlib.Path(__file__).resolve().parent.parent))

import keras  # noqa: E402
import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402

from animegan_face.models.networks import build_discriminator, build_generator  # noqa: E402
from animegan_face.training.callbacks import EpochCheckpoint  # noqa: E402
from animegan_face.training.custom_loop import weights_fingerprint  # noqa: E402


def _die():
    sys.stdout.flush()
    os.kill(os.getpid(), signal.SIGKILL)


def _truncate(path):
    data = path.read_bytes()
    path.write_bytes(data[:len(data) // 2])


def main(model_dir, scenario):
    model_dir = pathlib.Path(model_dir)
    keras.utils.set_random_seed(0)
    generator, discriminator = build_generator(), build_discriminator()
    generator(np.zeros((1, 32, 32, 3), np.float32))
    discriminator(np.zeros((1, 32, 32, 3), np.float32))
    g_optimizer, d_optimizer = keras.optimizers.Adam(1e-3), keras.optimizers.Adam(1e-3)
    g_optimizer.build(generator.trainable_variables)
    d_optimizer.build(discriminator.trainable_variables)
    epoch = tf.Variable(0, dtype=tf.int64, trainable=False, name="epoch")
    step = tf.Variable(0, dtype=tf.int64, trainable=False, name="step")
    checkpoint = tf.train.Checkpoint(generator=generator, discriminator=discriminator,
                                     g_optimizer=g_optimizer, d_optimizer=d_optimizer,
                                     epoch=epoch, step=step)
    manager = tf.train.CheckpointManager(checkpoint, model_dir / "checkpoints", max_to_keep=3)
    saver = EpochCheckpoint(manager, epoch, step, generator, model_dir / "generator.weights.h5",
                            generator.weights + discriminator.weights)
    saver.set_model(generator)

    def one_epoch(index):
        for variable in generator.trainable_variables + discriminator.trainable_variables:
            variable.assign(variable + 0.01)  # stands in for training: every saved value changes
        for batch in range(3):
            saver.on_train_batch_end(batch, {"g_total": 1.0})
        saver.on_epoch_end(index, {"g_total": 1.0})

    one_epoch(0)
    print(weights_fingerprint(generator), flush=True)

    if scenario == "checkpoint":
        def die_mid_write(save_path):
            _truncate(pathlib.Path(f"{save_path}.data-00000-of-00001"))
            _die()

        real_save = manager.save
        manager.save = lambda checkpoint_number=None: real_save(
            checkpoint_number, options=tf.train.CheckpointOptions(
                experimental_write_callbacks=[die_mid_write]))
    else:
        def die_mid_write(path):
            generator.__class__.save_weights(generator, path)
            _truncate(pathlib.Path(path))
            _die()

        generator.save_weights = die_mid_write
    one_epoch(1)
    sys.exit("the process should have been killed inside the save")


if __name__ == "__main__":
    main(*sys.argv[1:])
