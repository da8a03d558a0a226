"""Helper of tests/test_faults.py (not a test): saves epoch 1, then dies by SIGKILL inside epoch 2's save.

    python tests/kill_during_save.py MODEL_DIR checkpoint   # killed while the checkpoint is half
                                                            # written, before it is renamed into place
    python tests/kill_during_save.py MODEL_DIR generator    # killed while generator.weights.h5 is
                                                            # half written

The state is the real one of a run (both networks, Adam optimizers with their slots, the epoch
and step counters) and it is saved by the real `EpochCheckpoint`; only the moment of death is
staged, at the rename that would complete the write: `checkpoint`, when the finished
`keras-ckpt-2.partial/` folder is about to become `keras-ckpt-2/`, its discriminator file is cut
to half and the process killed, as a kill in the middle of writing it would leave it; `generator`,
when the temporary copy of generator.weights.h5 is about to replace it, the same with that copy.
Prints the generator's fingerprint after epoch 1 on stdout.
"""

import os
import pathlib
import signal
import sys

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
sys.path.insert(0, str(pathlib.Path(__file__).resolve().parent.parent))

import keras  # noqa: E402
import numpy as np  # noqa: E402

from animegan_face.models.networks import build_discriminator, build_generator  # noqa: E402
from animegan_face.training.callbacks import Counters, EpochCheckpoint  # noqa: E402
from animegan_face.training.cluster import weights_fingerprint  # noqa: E402
from animegan_face.training.keras_checkpoint import training_checkpoint  # noqa: E402
from animegan_face.training.run_folder import RunFolder  # noqa: E402
from tests.helpers import TINY_GENERATOR  # noqa: E402


def _die():
    sys.stdout.flush()
    os.kill(os.getpid(), signal.SIGKILL)


def _truncate(path):
    data = path.read_bytes()
    path.write_bytes(data[:len(data) // 2])


def main(model_dir, scenario):
    model_dir = pathlib.Path(model_dir)
    keras.utils.set_random_seed(0)
    generator, discriminator = build_generator(TINY_GENERATOR), build_discriminator()
    generator(np.zeros((1, 32, 32, 3), np.float32))
    discriminator(np.zeros((1, 32, 32, 3), np.float32))
    optimizers = [keras.optimizers.Adam(1e-3) for _ in range(3)]
    for optimizer, network in zip(optimizers, (generator, generator, discriminator)):
        optimizer.build(network.trainable_variables)
    run = RunFolder(model_dir)
    saver = EpochCheckpoint(training_checkpoint(run.checkpoints_dir, generator, discriminator,
                                                *optimizers),
                            Counters(), run, generator.weights + discriminator.weights)
    saver.set_model(generator)

    def one_epoch(index):
        for variable in generator.trainable_variables + discriminator.trainable_variables:
            variable.assign(variable + 0.01)  # stands in for training: every saved value changes
        for batch in range(3):
            saver.on_train_batch_end(batch, {"g_total": 1.0})
        saver.on_epoch_end(index, {"g_total": 1.0})

    one_epoch(0)
    print(weights_fingerprint(generator), flush=True)

    real_replace = os.replace

    def die_at_the_rename(source, target):
        source, target = pathlib.Path(source), pathlib.Path(target)
        if scenario == "checkpoint" and target.name == "keras-ckpt-2":
            _truncate(source / "discriminator.weights.h5")
            _die()
        if scenario == "generator" and target.name == "generator.weights.h5":
            _truncate(source)
            _die()
        real_replace(source, target)

    os.replace = die_at_the_rename
    one_epoch(1)
    sys.exit("the process should have been killed inside the save")


if __name__ == "__main__":
    main(*sys.argv[1:])
