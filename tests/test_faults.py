"""Faults at 32 px, for real: kill -9 mid-epoch and resume, a kill inside a save, a NaN loss."""

import dataclasses
import os
import pathlib
import re
import signal
import subprocess
import sys
import threading
import time

import numpy as np
import pytest

from animegan_face.config import ModelConfig
from animegan_face.models.networks import build_discriminator, build_generator
from animegan_face.training import loop, tf_training
from animegan_face.training.callbacks import Counters, EpochCheckpoint
from animegan_face.training.cluster import weights_fingerprint
from animegan_face.training.keras_checkpoint import KerasCheckpoint
from animegan_face.training.run_checks import NonFiniteError
from animegan_face.training.run_folder import RunFolder
from tests.helpers import TINY_GENERATOR, ScriptRuns, tiny_config, write_prepared_dataset

pytestmark = pytest.mark.slow
REPO = pathlib.Path(__file__).resolve().parent.parent
STEPS = 5


def _latest(checkpoints):
    return KerasCheckpoint(checkpoints, {}, {}).latest


def _generator_from_checkpoint(path):
    generator = build_generator(TINY_GENERATOR)
    generator.load_weights(pathlib.Path(path) / "generator.weights.h5")
    return generator


def _train_command(dataset, model_dir):
    return [sys.executable, "train.py", f"--model_dir={model_dir}", f"--dataset_dir={dataset}",
            "--image_size=32", "--batch_size=2", "--init_epochs=0", "--epochs=3",
            f"--steps_per_epoch={STEPS}", "--extractor=mobilenet", "--extractor_weights=none",
            "--face_extractor=none",
            # tiny_config's generator, and the defaults these runs were written for
            f"--generator={TINY_GENERATOR}", "--mixed_precision=off", "--color_scale=255",
            "--nogradient_norms"]  # nothing here reads grad_norm/ (test_training.py does)


class _Output:
    """Collects a child's stdout on a thread (a full pipe would block the child), for the messages."""

    def __init__(self, process):
        self.text = ""
        self._thread = threading.Thread(target=self._read, args=(process.stdout,), daemon=True)
        self._thread.start()

    def _read(self, stream):
        for chunk in iter(lambda: stream.read1(4096), b""):
            self.text += chunk.decode("utf-8", "replace")

    def finish(self, timeout=30):
        """Waits for the rest of the output (the child has ended) and returns all of it."""
        self._thread.join(timeout)
        return self.text


def _wait_until_stopped(process, output, timeout):
    """Waits (at most `timeout` s, a hang guard, not a speed requirement) for the child to stop."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        pid, status = os.waitpid(process.pid, os.WNOHANG | os.WUNTRACED)
        if pid:
            assert os.WIFSTOPPED(status), f"ended ({status}) before stopping:\n{output.text[-3000:]}"
            return
        time.sleep(0.05)
    raise AssertionError(f"not stopped within {timeout} s:\n{output.text[-3000:]}")


@pytest.fixture(scope="module")
def run_train_py():
    """`run_train_py(*flags)`: train.py with `flags`, as its own command would run it (exit status,
    stdout, stderr). The kill -9 test's rerun and the NaN run share one child process
    (`tests.helpers.ScriptRuns`), which imports TensorFlow once; the run that is killed, and the
    kill-during-save helpers, keep a process of their own."""
    runs = ScriptRuns("train.py", str(REPO))
    yield runs
    runs.close()


def test_kill_9_mid_epoch_then_the_same_command_resumes_and_ends_like_an_uninterrupted_run(
        tmp_path, run_train_py):
    dataset = write_prepared_dataset(tmp_path / "data")
    model_dir = tmp_path / "run"
    command = _train_command(dataset, model_dir)
    environment = dict(os.environ, PYTHONUNBUFFERED="1")

    # Three GAN epochs (no warm-up: resuming into and out of it is test_training.py's). Run until
    # epoch 3 has made 2 of its STEPS steps, then kill -9. The run stops itself
    # there (tests/stop_in_epoch.py), so the kill lands mid-epoch however fast the CPU is.
    process = subprocess.Popen([sys.executable, str(REPO / "tests" / "stop_in_epoch.py"), "2", "1",
                                *command[1:]], cwd=REPO, stdout=subprocess.PIPE,
                               stderr=subprocess.STDOUT, env=environment)
    try:
        output = _Output(process)
        _wait_until_stopped(process, output, timeout=300)
        os.kill(process.pid, signal.SIGKILL)
        assert process.wait(timeout=30) == -signal.SIGKILL
    finally:
        if process.poll() is None:
            process.kill()
    assert "Epoch 3/3" in output.finish()
    checkpoints = model_dir / "checkpoints"
    assert _latest(checkpoints).name == "keras-ckpt-2"  # mid-epoch 3
    assert KerasCheckpoint.counters(checkpoints / "keras-ckpt-2") == (2, 2 * STEPS)
    before = {str(path): path.read_bytes() for path in checkpoints.glob("keras-ckpt-[12]/*")}

    # The same command again: resumes from keras-ckpt-2 and runs only epoch 3, from its first batch.
    rerun = run_train_py(*command[2:], timeout=300)
    assert rerun.returncode == 0, rerun.stdout[-3000:] + rerun.stderr[-3000:]
    assert (f"Resuming from {checkpoints / 'keras-ckpt-2'}: 2 of 3 epochs done, step {2 * STEPS}"
            in rerun.stdout)
    assert "Epoch 3/3" in rerun.stdout and "Epoch 1/3" not in rerun.stdout
    assert "Epoch 2/3" not in rerun.stdout
    # Same counters as an uninterrupted run: 3 epochs of STEPS steps, no batch counted twice.
    assert KerasCheckpoint.counters(_latest(checkpoints)) == (3, 3 * STEPS)
    assert {str(path): path.read_bytes() for path in checkpoints.glob("keras-ckpt-[12]/*")} == before
    generator = build_generator(TINY_GENERATOR)
    generator.load_weights(model_dir / "generator.weights.h5")
    assert weights_fingerprint(generator) == weights_fingerprint(
        _generator_from_checkpoint(checkpoints / "keras-ckpt-3"))


def _kill_during_save(model_dir, scenario):
    result = subprocess.run([sys.executable, str(REPO / "tests" / "kill_during_save.py"),
                             str(model_dir), scenario], cwd=REPO, capture_output=True, text=True,
                            timeout=300)
    assert result.returncode == -signal.SIGKILL, result.stdout + result.stderr[-3000:]
    return result.stdout.split()[-1]  # the generator's fingerprint after epoch 1


def test_kill_while_writing_a_checkpoint_leaves_the_previous_one_restorable(tmp_path):
    epoch_1 = _kill_during_save(tmp_path, "checkpoint")
    checkpoints = tmp_path / "checkpoints"
    # The half-written checkpoint is there, and unreadable...
    assert (checkpoints / "keras-ckpt-2.partial" / "discriminator.weights.h5").is_file()
    with pytest.raises((OSError, ValueError)):
        build_discriminator().load_weights(checkpoints / "keras-ckpt-2.partial" /
                                           "discriminator.weights.h5")
    # ...but it was never renamed into place: the latest checkpoint is still epoch 1, whole.
    latest = _latest(checkpoints)
    assert latest.name == "keras-ckpt-1"
    assert KerasCheckpoint.counters(latest) == (1, 3)
    assert weights_fingerprint(_generator_from_checkpoint(latest)) == epoch_1


def test_kill_while_writing_the_generator_file_leaves_the_previous_one(tmp_path):
    epoch_1 = _kill_during_save(tmp_path, "generator")
    assert list(tmp_path.glob(".generator.weights.h5.*.tmp"))  # the half-written one
    generator = build_generator(TINY_GENERATOR)
    generator.load_weights(tmp_path / "generator.weights.h5")
    assert weights_fingerprint(generator) == epoch_1


def _poison_batch(index):
    """tf_training's NumpyBatches, with NaN photos in batch `index` (counted from 0) only."""

    class PoisonedBatches(tf_training.NumpyBatches):
        position = 0

        def __next__(self):
            batch = super().__next__()
            self.position += 1
            if self.position - 1 == index:
                batch = (np.full_like(batch[0], np.nan),) + tuple(batch[1:])
            return batch

    return PoisonedBatches


def test_nan_loss_stops_at_its_step_and_saves_nothing_non_finite(tmp_path, monkeypatch):
    dataset = write_prepared_dataset(tmp_path / "data")
    model_dir = tmp_path / "run"
    config = tiny_config(dataset, model_dir, init_epochs=0, epochs=3, steps_per_epoch=3)
    config = dataclasses.replace(config, model=ModelConfig(
        generator=TINY_GENERATOR, extractor="mobilenet", extractor_weights="none",
        face_extractor="none"))
    monkeypatch.setattr(tf_training, "NumpyBatches", _poison_batch(4))  # epoch 2 (batches 3, 4, 5)

    with pytest.raises(NonFiniteError, match=r"step \d+ \(epoch 2, batch \d\): loss terms not "
                                             r"finite \{.*'g_total': nan") as raised:
        loop.train(config, tf_training.TensorFlow(config), verbose=0)
    assert "keras-ckpt-1" in str(raised.value) and "lower the learning rates" in str(raised.value)
    checkpoints = model_dir / "checkpoints"
    assert _latest(checkpoints).name == "keras-ckpt-1"
    assert not list(checkpoints.glob("keras-ckpt-2*"))
    generator = build_generator(TINY_GENERATOR)
    generator.load_weights(model_dir / "generator.weights.h5")
    assert all(np.isfinite(np.asarray(w)).all() for w in generator.weights)
    assert weights_fingerprint(generator) == weights_fingerprint(
        _generator_from_checkpoint(checkpoints / "keras-ckpt-1"))


def test_non_finite_weights_with_finite_losses_are_not_saved(tmp_path):
    # A step can write NaN weights while its own loss, computed before the update, was finite.
    generator = build_generator()
    checkpoint = KerasCheckpoint(tmp_path / "checkpoints", {"generator": generator}, {})
    counters = Counters()
    saver = EpochCheckpoint(checkpoint, counters, RunFolder(tmp_path), generator.weights)
    saver.set_model(generator)
    saver.on_epoch_end(0, {"g_total": 1.0})
    kernel = generator.trainable_weights[3]
    kernel.assign(np.full(kernel.shape, np.inf, np.float32))
    with pytest.raises(NonFiniteError, match=rf"epoch 2: 1 variable\(s\) not finite, e.g. {kernel.path}"):
        saver.on_epoch_end(1, {"g_total": 1.0})
    assert checkpoint.latest.name == "keras-ckpt-1" and counters.epoch == 1


def test_train_cli_names_the_step_of_a_nan(tmp_path, run_train_py):
    # A huge learning rate blows the weights up within a few steps: a clear message, no traceback.
    dataset = write_prepared_dataset(tmp_path / "data")
    result = run_train_py(
        f"--model_dir={tmp_path / 'run'}", f"--dataset_dir={dataset}", "--image_size=32",
        "--batch_size=2", "--init_epochs=0", "--epochs=2", "--steps_per_epoch=4",
        "--extractor=mobilenet", "--extractor_weights=none", "--face_extractor=none",
        f"--generator={TINY_GENERATOR}", "--mixed_precision=off", "--color_scale=255",
        "--g_lr=1e30", "--d_lr=1e30", timeout=300)
    assert result.returncode == 1, result.stdout[-2000:] + result.stderr[-2000:]
    assert re.search(r"train.py: (step \d+ \(epoch \d, batch \d\)|epoch \d): .*not finite", result.stderr)
    assert "Traceback" not in result.stderr
