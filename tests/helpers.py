"""Small generated datasets and configs shared by the training tests."""

import contextlib
import dataclasses
import json
import os
import select
import subprocess
import sys
import time

import cv2
import numpy as np

from animegan_face.config import Config, DataConfig, LossConfig, ModelConfig, TrainConfig


@contextlib.contextmanager
def float64_policy():
    """Networks built (and losses computed) in float64 inside the block; floatx and Keras' dtype
    policy are restored after it.

    For the tests that compare two implementations of a train step (two backends, one and two
    devices): at random initialisation instance norm's backward pass cancels most of the generator's
    gradient, which turns float32 rounding, different on each CPU model with the kernels and
    summation orders oneDNN and XLA pick there, into differences of percents. In float64 the same
    amplification leaves rounding far below 1e-6, so a tight bound holds on any x86-64 CPU. (Under
    JAX, float64 also needs JAX_ENABLE_X64=1 before JAX starts, and with Keras 3.15
    `tests.jax_worker._float64_under_jax`; without them values silently stay or become float32.)
    """
    import keras

    floatx, policy = keras.config.floatx(), keras.config.dtype_policy()
    keras.config.set_floatx("float64")
    keras.config.set_dtype_policy("float64")
    try:
        yield
    finally:
        keras.config.set_floatx(floatx)
        keras.config.set_dtype_policy(policy)


# Side of the photos of the float64 backend comparisons (test_jax_backend's two float64 checks,
# one JAX process): 16 px, not the 32 of the other training tests. XLA on the CPU runs float64
# convolutions far slower than float32 ones: at 32 px each float64 GAN step took 23 s of CPU to run
# (its compile 20 s), three of them in that process. What the checks compare, two implementations
# of one step's arithmetic, is the same at any size: every layer and loss term is still in it
# (VGG16's stride-8 content layer gives 2 x 2 maps; the face crops stay 32 px, the least Keras'
# VGG16 takes) and the bugs they are there to catch (a scale error, a stale spectral-norm vector, a
# missing term) are not size effects.
FLOAT64_CHECK_SIZE = 16


def float64_check_config():
    """`tiny_config` for the float64 checks: FLOAT64_CHECK_SIZE photos, 32 px face crops, and
    the generator's input grain on, so that both backends must draw it alike from the step."""
    config = tiny_config("unused", "unused", size=FLOAT64_CHECK_SIZE)
    return dataclasses.replace(config, loss=dataclasses.replace(config.loss, input_grain=0.05))


def write_prepared_dataset(root, size=32, photos=4, anime=4, seed=0):
    """A prepared-dataset folder of random images; every other photo has a face box."""
    rng = np.random.default_rng(seed)
    for folder in ("photo", "anime", "smooth"):
        (root / folder).mkdir(parents=True, exist_ok=True)
    boxes = {}
    for index in range(photos):
        name = f"p{index}.png"
        cv2.imwrite(str(root / "photo" / name), rng.integers(0, 256, (size, size, 3), dtype=np.uint8))
        boxes[name] = [0.2, 0.25, 0.8, 0.75] if index % 2 == 0 else None
    for index in range(anime):
        image = rng.integers(0, 256, (size, size, 3), dtype=np.uint8)
        cv2.imwrite(str(root / "anime" / f"a{index}.png"), image)
        cv2.imwrite(str(root / "smooth" / f"a{index}.png"), cv2.GaussianBlur(image, (5, 5), 0))
    (root / "faces.json").write_text(json.dumps({"image_size": size, "boxes": boxes}))
    return root


# The generator of `tiny_config`'s runs: the shipped model's (train.py's default). With the
# thesis' v1 (1.9x the parameters, instance norm) a train() of a warm-up and a GAN epoch of 2 steps
# took 20.4 and 21.9 s of CPU against 14.9 and 15.0 s (one core, back to back). v1 is still built
# by test_networks and trained by test_trainer's v1 test.
TINY_GENERATOR = "animegan_v2"


def tiny_config(dataset_dir, model_dir, size=32, **train):
    """Random-weight extractors (no download), 32 px, batch 2, a few steps, and no per-epoch
    gradient norms (an eager measurement on 8 photos, ~10 s per GAN epoch here; a test that reads
    grad_norm/ passes gradient_norms=True).

    Content and faces both go through VGG16, the shipped model's extractors: ResNet101 as the face
    extractor made each traced train step some 7 s slower (16.9 against 11.6 s to build and trace a
    GAN step), VGG19 (two convolutions more) as the content extractor test_training.py's resume
    test by about a tenth (54.5 and 58.0 against 50.9 and 51.7 s of CPU); their builds are covered
    by tests/test_extractors.py."""
    return Config(
        data=DataConfig(dataset_dir=str(dataset_dir), image_size=size, batch_size=2),
        # Colour scale 255 and float32: the defaults these tests were written for.
        model=ModelConfig(generator=TINY_GENERATOR, extractor="vgg16", extractor_weights="none",
                          face_extractor="vgg16", face_extractor_weights="none", face_crop_size=32),
        loss=LossConfig(color_scale=255.0),
        train=TrainConfig(model_dir=str(model_dir), **{"epochs": 1, "init_epochs": 1,
                                                       "steps_per_epoch": 2,
                                                       "mixed_precision": "off",
                                                       "gradient_norms": False, **train}),
    )


def write_face_patch_dataset(root, rng, size=32):
    """3 photos (two with a white face patch and its box, one without a face), 2 anime images,
    as a prepared dataset in `root`."""
    def write(path, rgb):
        path.parent.mkdir(parents=True, exist_ok=True)
        assert cv2.imwrite(str(path), cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR))

    boxes = {}
    for index in range(3):
        photo = np.zeros((size, size, 3), np.uint8)
        name = f"p{index}.png"
        if index < 2:
            y0, x0 = 4 + index, 2 + 3 * index
            photo[y0:y0 + 12, x0:x0 + 10] = 255
            boxes[name] = [y0 / size, x0 / size, (y0 + 12) / size, (x0 + 10) / size]
        else:
            boxes[name] = None
        write(root / "photo" / name, photo)
    for index in range(2):
        anime = rng.integers(0, 256, (size, size, 3), dtype=np.uint8)
        write(root / "anime" / f"a{index}.png", anime)
        write(root / "smooth" / f"a{index}.png", anime // 2)
    (root / "faces.json").write_text(json.dumps({"image_size": size, "boxes": boxes}))
    return root


def scalar_steps(log_dir):
    """{tag: [steps]} of every scalar in the TensorBoard event files of `log_dir`."""
    import tensorflow as tf  # not at import: the JAX tests import this module too

    steps = {}
    for name in sorted(os.listdir(log_dir)):
        for event in tf.compat.v1.train.summary_iterator(os.path.join(log_dir, name)):
            for value in event.summary.value:
                steps.setdefault(value.tag, []).append(event.step)
    return steps


def wait_for_file(folder, pattern, timeout=20):
    """The first file of `folder` matching `pattern` once Chromium has finished downloading it.

    Chromium writes a download to NAME.crdownload and only then renames it, but a file under the
    final name can show first: once in 40 runs on the loaded 2-core machine the file found here was
    gone when the test read it after closing the browser (which cancels a download in flight). So a
    file counts once it has bytes and no .crdownload is left in the folder."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        entries = list(folder.iterdir())
        found = [path for path in entries if path.match(pattern)]
        if (found and not any(path.suffix == ".crdownload" for path in entries)
                and found[0].stat().st_size > 0):
            return found[0]
        time.sleep(0.1)
    raise AssertionError(f"no {pattern} appeared in {folder} within {timeout} s")


class ScriptRuns:
    """`python SCRIPT ARGS...` as a test runs it, several times in one child process
    (tests/script_runs.py), which imports TensorFlow once instead of once per run.

    `runs(*args, timeout=300)` gives what `subprocess.run([python, SCRIPT, *args], cwd=REPO,
    capture_output=True, text=True)` gives: a CompletedProcess with returncode, stdout and stderr
    of that run alone. With `script=None`, several scripts in one process: `runs(SCRIPT, *args)`.
    `close()` ends the process. For runs that need no process of their own; `env` is the
    environment of all of them (default: this process's); `setup`, a module of this repository
    whose install() the process calls before its first run (tests/export_memo.py)."""

    def __init__(self, script, repo, env=None, setup=None):
        self._script = script
        if setup:
            env = {**(os.environ if env is None else env), "SCRIPT_RUNS_SETUP": setup}
        self._process = subprocess.Popen(
            [sys.executable, os.path.join("tests", "script_runs.py"), *([script] if script else [])],
            cwd=repo, env=env, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE)

    def __call__(self, *args, timeout=300):
        self._process.stdin.write((json.dumps([str(a) for a in args]) + "\n").encode())
        self._process.stdin.flush()
        ready, _, _ = select.select([self._process.stdout], [], [], timeout)
        line = self._process.stdout.readline() if ready else b""
        if not line:
            self.close()
            raise AssertionError(f"{self._script or ''} {args}: no answer within {timeout} s (the "
                                 f"runner ended: {self._process.stderr.read()[-3000:]!r})")
        answer = json.loads(line)
        return subprocess.CompletedProcess([self._script, *args] if self._script else list(args),
                                           answer["returncode"],
                                           answer["stdout"], answer["stderr"])

    def close(self):
        if self._process.poll() is None:
            self._process.stdin.close()
            try:
                self._process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self._process.kill()
                self._process.wait()
