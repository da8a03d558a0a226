"""Network interpolation: the blend formula, its refusals, and interpolate.py end to end."""

import dataclasses
import pathlib

import keras
import numpy as np
import pytest

from animegan_face.deployment import provenance
from animegan_face.deployment.inference import load_stylizer
from animegan_face.models.interpolation import InterpolationError, interpolate_weights
from animegan_face.models.networks import build_generator
from animegan_face.training.run_folder import RunFolder
from tests.helpers import ScriptRuns, tiny_config

REPO = pathlib.Path(__file__).resolve().parents[1]


def test_blend_is_the_weighted_mean_of_each_tensor_and_keeps_the_ends():
    a = [np.array([[1.0, -2.0]], np.float32), np.array([4.0], np.float32)]
    b = [np.array([[3.0, 2.0]], np.float32), np.array([-4.0], np.float32)]
    blended = interpolate_weights(a, b, 0.25)
    np.testing.assert_array_equal(blended[0], [[1.5, -1.0]])  # 0.75 a + 0.25 b, exact in binary
    np.testing.assert_array_equal(blended[1], [2.0])
    assert all(w.dtype == np.float32 for w in blended)
    for alpha, end in ((0.0, a), (1.0, b)):
        for got, want in zip(interpolate_weights(a, b, alpha), end):
            np.testing.assert_array_equal(got, want)


def test_blend_refuses_other_networks_and_alphas_outside_the_segment():
    a = [np.zeros((3, 3)), np.zeros(2)]
    with pytest.raises(InterpolationError, match=r"tensor 1 has shape \(2,\) against \(4,\)"):
        interpolate_weights(a, [np.zeros((3, 3)), np.zeros(4)], 0.5)
    with pytest.raises(InterpolationError, match="2 against 1 weight tensors"):
        interpolate_weights(a, a[:1], 0.5)
    with pytest.raises(InterpolationError, match=r"alpha must lie in \[0, 1\], got 1.5"):
        interpolate_weights(a, a, 1.5)


def _save_generator(path, seed, architecture="animegan_v2"):
    keras.utils.set_random_seed(seed)
    generator = build_generator(architecture)
    path.parent.mkdir(parents=True, exist_ok=True)
    generator.save_weights(path)
    return generator


@pytest.fixture(scope="module")
def run_interpolate():
    """`run_interpolate(*flags)`: interpolate.py with `flags`, as its own command would run it
    (exit status, stdout, stderr); the module's three runs share one child process
    (`tests.helpers.ScriptRuns`), which imports TensorFlow once instead of three times."""
    runs = ScriptRuns("interpolate.py", REPO)
    yield runs
    runs.close()


def test_interpolate_cli_writes_the_blend_and_its_record(tmp_path, run_interpolate):
    run_a, run_b = tmp_path / "run_a", tmp_path / "run_b"
    gen_a = _save_generator(run_a / "generator.weights.h5", seed=1)
    config = tiny_config(tmp_path / "data", run_a)
    RunFolder(run_a).write_config(dataclasses.replace(
        config, model=dataclasses.replace(config.model, generator="animegan_v2")))
    gen_b = _save_generator(tmp_path / "b.weights.h5", seed=2)
    output = tmp_path / "out" / "blend.weights.h5"
    done = run_interpolate(f"--model_a={run_a}", f"--model_b={tmp_path / 'b.weights.h5'}",
                           "--alpha=0.25", f"--output={output}")
    assert done.returncode == 0, done.stderr
    assert "(animegan_v2, 77 tensors)" in done.stdout

    blended = load_stylizer(output)
    want = [0.75 * a + 0.25 * b for a, b in zip(gen_a.get_weights(), gen_b.get_weights())]
    got = blended.generator.get_weights()
    assert len(got) == len(want) == 77
    for g, w in zip(got, want):
        np.testing.assert_allclose(g, w, rtol=1e-6, atol=1e-7)  # float32 rounding of one blend

    record = provenance.source_record(output)["interpolated_from"]
    assert record["interpolation"]["alpha"] == 0.25
    assert record["interpolation"]["a"]["generator"]["sha256"] == provenance.sha256(
        run_a / "generator.weights.h5")
    assert record["interpolation"]["a"]["training_run"]["config"]["model"]["generator"] == "animegan_v2"
    assert record["interpolation"]["b"]["training_run"] is None  # a bare file
    assert record["interpolated_to_sha256"] == provenance.sha256(output)


def test_interpolate_cli_refuses_two_architectures_and_writes_nothing(tmp_path, run_interpolate):
    _save_generator(tmp_path / "v1.weights.h5", seed=1, architecture="animegan_v1")
    _save_generator(tmp_path / "v2.weights.h5", seed=1)
    output = tmp_path / "blend.weights.h5"
    failed = run_interpolate(f"--model_a={tmp_path / 'v1.weights.h5'}",
                             f"--model_b={tmp_path / 'v2.weights.h5'}", f"--output={output}")
    assert failed.returncode == 1
    assert "--model_a is animegan_v1, --model_b animegan_v2" in failed.stderr
    missing = run_interpolate(f"--model_a={tmp_path / 'nope'}",
                              f"--model_b={tmp_path / 'v2.weights.h5'}", f"--output={output}")
    assert missing.returncode == 1 and "--model_a: model not found:" in missing.stderr
    assert not output.exists()
