"""The two demos: stylising the shipped photo (the README's main job), and training on generated data."""

import pathlib

import numpy as np
import pytest

from animegan_face.data import image_files
from tests.helpers import ScriptRuns

REPO = pathlib.Path(__file__).resolve().parent.parent


@pytest.fixture(scope="module")
def run_demo():
    """`run_demo(*flags)`: demo.py with `flags`, as its own command would run it (exit status,
    stdout, stderr); the module's three runs share one child process (`tests.helpers.ScriptRuns`),
    which imports TensorFlow and the face detector once instead of once per run."""
    runs = ScriptRuns("demo.py", REPO)
    yield runs
    runs.close()


@pytest.mark.slow
def test_demo_stylises_the_shipped_photo_and_writes_the_side_by_side(tmp_path, run_demo):
    from animegan_face.models.networks import build_generator

    model = tmp_path / "generator.weights.h5"
    build_generator("animegan_v2").save_weights(model)
    done = run_demo(f"--model={model}", "--image_size=64", f"--output_dir={tmp_path / 'out'}")
    assert done.returncode == 0, done.stderr[-3000:]
    # Exactly the face: dlib's mission-patch "face" is rejected by the landmark check.
    assert "astronaut.jpg: 1 face," in done.stdout
    photo = image_files.read_image(REPO / "assets" / "astronaut.jpg")
    stylised = image_files.read_image(tmp_path / "out" / "astronaut.png")
    picture = image_files.read_image(tmp_path / "out" / "side_by_side.png")
    assert stylised.shape == photo.shape
    assert picture.shape == (photo.shape[0], 2 * photo.shape[1] + 4, 3)
    np.testing.assert_array_equal(picture[:, :photo.shape[1]], photo)
    # Faces were replaced (an untrained generator changes them), the corners were not.
    assert np.abs(stylised.astype(int) - photo).max() > 50
    np.testing.assert_array_equal(stylised[:40, :40], photo[:40, :40])


@pytest.mark.slow
def test_demo_puts_each_model_in_its_own_column(tmp_path, run_demo):
    import keras

    from animegan_face.models.networks import build_generator

    models = []
    for seed in (1, 2):
        keras.utils.set_random_seed(seed)
        models.append(tmp_path / f"g{seed}.weights.h5")
        build_generator("animegan_v2").save_weights(models[-1])
    done = run_demo(*(f"--model={m}" for m in models), "--image_size=64",
                    f"--output_dir={tmp_path / 'out'}")
    assert done.returncode == 0, done.stderr[-3000:]
    assert "(photo | model 1 | model 2)" in done.stdout
    photo = image_files.read_image(REPO / "assets" / "astronaut.jpg")
    first, second = (image_files.read_image(tmp_path / "out" / f"astronaut_{k}.png") for k in (1, 2))
    assert np.abs(first.astype(int) - second).max() > 50  # two different generators
    picture = image_files.read_image(tmp_path / "out" / "side_by_side.png")
    width = photo.shape[1]
    assert picture.shape == (photo.shape[0], 3 * width + 2 * 4, 3)
    np.testing.assert_array_equal(picture[:, width + 4:2 * width + 4], first)
    np.testing.assert_array_equal(picture[:, 2 * width + 8:], second)


def test_demo_names_a_missing_model(tmp_path, run_demo):
    done = run_demo(f"--model={tmp_path / 'none.tflite'}", f"--output_dir={tmp_path / 'out'}",
                    timeout=120)
    assert done.returncode != 0 and "none.tflite" in done.stderr
