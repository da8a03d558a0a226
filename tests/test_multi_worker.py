"""--strategy=multi_worker: two train.py workers on 127.0.0.1 train in step (training/cluster.py, training/loop.py)."""

import json
import os
import pathlib
import re
import socket
import subprocess
import sys

import pytest

from animegan_face.models.networks import build_generator
from animegan_face.training.cluster import weights_fingerprint
from animegan_face.training.keras_checkpoint import KerasCheckpoint
from animegan_face.training.run_folder import RunFolder
from tests.helpers import TINY_GENERATOR, write_prepared_dataset

REPO = pathlib.Path(__file__).resolve().parent.parent
_FINGERPRINT = r"worker {index}: {when}, epoch {epoch}, step {step}, generator weights fingerprint (\w+)"


def _free_ports(count):
    """Ports the kernel just handed out on the loopback interface (held together, then freed)."""
    sockets = [socket.socket() for _ in range(count)]
    try:
        for sock in sockets:
            sock.bind(("127.0.0.1", 0))
        return [sock.getsockname()[1] for sock in sockets]
    finally:
        for sock in sockets:
            sock.close()


def _run_workers(flags, tmp_path, count=2, timeout=400):
    """Starts `count` train.py workers with TF_CONFIG; returns their outputs once all have ended."""
    cluster = {"worker": [f"127.0.0.1:{port}" for port in _free_ports(count)]}
    processes, logs = [], []
    for index in range(count):
        log = open(tmp_path / f"worker{index}.log", "w+")
        temporary = tmp_path / f"tmp{index}"  # where a non-chief worker writes its own files
        temporary.mkdir()
        environment = dict(os.environ, TMPDIR=str(temporary), TF_CONFIG=json.dumps(
            {"cluster": cluster, "task": {"type": "worker", "index": index}}))
        processes.append(subprocess.Popen([sys.executable, "train.py", *flags], cwd=REPO, env=environment,
                                          stdout=log, stderr=subprocess.STDOUT))
        logs.append(log)
    try:
        codes = [process.wait(timeout=timeout) for process in processes]
    finally:
        for process in processes:
            if process.poll() is None:
                process.kill()
    outputs = []
    for log in logs:
        log.seek(0)
        outputs.append(log.read())
        log.close()
    return codes, outputs


@pytest.mark.slow
def test_two_workers_train_in_step(tmp_path):
    dataset = write_prepared_dataset(tmp_path / "data")
    model_dir = tmp_path / "run"
    flags = [f"--model_dir={model_dir}", f"--dataset_dir={dataset}", "--strategy=multi_worker",
             "--image_size=32", "--batch_size=2", "--init_epochs=0", "--epochs=1",
             "--steps_per_epoch=2", "--extractor=mobilenet", "--extractor_weights=none",
             "--face_extractor=none", f"--generator={TINY_GENERATOR}", "--mixed_precision=off",
             "--color_scale=255",
             "--nogradient_norms"]
    codes, outputs = _run_workers(flags, tmp_path)
    assert codes == [0, 0], "\n\n".join(output[-3000:] for output in outputs)

    def fingerprint(index, when, epoch, step):
        pattern = _FINGERPRINT.format(index=index, when=when, epoch=epoch, step=step)
        match = re.search(pattern, outputs[index])
        assert match, f"no {pattern!r} in worker {index}'s output:\n{outputs[index][-3000:]}"
        return match.group(1)

    # Same start (broadcast from worker 0), same weights after one GAN epoch of 2 steps (no
    # warm-up: its model goes through the same tf_training.StrategySteps as the GAN step's).
    start = {fingerprint(index, "after restoring", 0, 0) for index in (0, 1)}
    end = {fingerprint(index, "at the end", 1, 2) for index in (0, 1)}
    assert len(start) == 1 and len(end) == 1 and start != end
    # Worker 0 (the chief) wrote model_dir; worker 1 wrote to a temporary folder, now deleted.
    generator = build_generator(TINY_GENERATOR)
    generator.load_weights(model_dir / "generator.weights.h5")
    assert weights_fingerprint(generator) == end.pop()
    assert KerasCheckpoint.counters(RunFolder(model_dir).latest_checkpoint()) == (1, 2)
    assert list((tmp_path / "tmp1").iterdir()) == []


def _dry_run(*flags, environment=None):
    return subprocess.run([sys.executable, "train.py", "--dry_run", *flags], cwd=REPO, text=True,
                          capture_output=True, timeout=120, env=environment)


def test_multi_worker_needs_tf_config_and_a_prepared_dataset(tmp_path):
    environment = {key: value for key, value in os.environ.items() if key != "TF_CONFIG"}
    result = _dry_run(f"--model_dir={tmp_path}", "--strategy=multi_worker", environment=environment)
    assert result.returncode != 0 and "TF_CONFIG" in result.stderr
    result = _dry_run(f"--model_dir={tmp_path}", "--strategy=multi_worker", f"--photo_dir={tmp_path}",
                      f"--anime_dir={tmp_path}", environment=dict(environment, TF_CONFIG="{}"))
    assert result.returncode != 0 and "--photo_dir: with --strategy=multi_worker" in result.stderr
