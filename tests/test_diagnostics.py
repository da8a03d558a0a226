"""Gradient norms per weighted loss term: which terms appear, how they scale, and that measuring
changes nothing."""

import dataclasses
import pathlib

import numpy as np
import pytest

from animegan_face.data.pipeline import load_dataset_files
from animegan_face.loss import diagnostics
from animegan_face.training.tf_training import build_trainers
from animegan_face.training.loop import diagnostic_batch
from tests.helpers import ScriptRuns, tiny_config, write_prepared_dataset

pytestmark = pytest.mark.slow
REPO = str(pathlib.Path(__file__).resolve().parent.parent)


@pytest.fixture(scope="module")
def setup(tmp_path_factory):
    root = tmp_path_factory.mktemp("diagnostics")
    config = tiny_config(write_prepared_dataset(root / "data"), root / "run")
    _, gan = build_trainers(config)
    batch = diagnostic_batch(load_dataset_files(config.data.dataset_dir), 32, count=2)
    return config, gan, batch


def _norms(gan, batch, loss):
    return diagnostics.term_gradient_norms(gan.generator, gan.discriminator, gan.content_extractor,
                                           gan.face_extractor, batch, loss, 32)


def test_diagnostic_batch_prefers_photos_with_faces(setup):
    config, _, batch = setup
    photo, boxes, anime, anime_gray, smooth_gray, target = batch
    assert photo.shape == anime.shape == anime_gray.shape == smooth_gray.shape == (2, 32, 32, 3)
    np.testing.assert_array_equal(target, photo)  # a dataset without pseudo-pairs
    assert (boxes[:, 2] > boxes[:, 0]).all()  # the helper's dataset has faces in every other photo
    np.testing.assert_array_equal(anime_gray[..., 0], anime_gray[..., 2])


@pytest.fixture(scope="module")
def measured(setup):
    """One measurement at the run's own loss settings: the networks, their weights before it, and
    what it measured; read by two tests instead of each measuring (seconds per eager measurement).
    No test in this module trains `setup`'s networks, so they still hold what measuring left."""
    config, gan, batch = setup
    networks = (gan.generator, gan.discriminator, gan.content_extractor, gan.face_extractor)
    before = [[np.array(v) for v in network.weights] for network in networks]
    norms = _norms(gan, batch, config.loss)
    return networks, before, norms


def test_every_weighted_term_is_measured_and_a_zero_weight_is_not(setup, measured):
    config, gan, batch = setup
    norms = measured[2]
    terms = ("g_adv", "con", "gra", "col", "skin", "face")
    assert set(norms) == {f"{kind}/{t}" for kind in ("image", "generator") for t in terms}
    assert all(np.isfinite(v) and v > 0 for v in norms.values())
    off = _norms(gan, batch, dataclasses.replace(config.loss, skin=0.0))
    assert "image/skin" not in off and "generator/skin" not in off


def test_norms_scale_with_the_weight_and_the_color_scale(setup):
    config, gan, batch = setup
    unit = dataclasses.replace(config.loss, distance="l1", color_scale=1.0)
    base = _norms(gan, batch, unit)
    doubled = _norms(gan, batch, dataclasses.replace(unit, col=20.0))
    # 2 * x is exact in floating point, so the gradient doubles to the last bit or so.
    assert doubled["image/col"] == pytest.approx(2 * base["image/col"], rel=1e-6)
    assert doubled["image/con"] == pytest.approx(base["image/con"], rel=1e-6)
    # Under L1 the YUV scale multiplies the colour gradient exactly (d|s d|/dx = s sign(d)).
    scaled = _norms(gan, batch, dataclasses.replace(unit, color_scale=255.0))
    assert scaled["image/col"] == pytest.approx(255 * base["image/col"], rel=1e-4)
    assert scaled["image/skin"] == pytest.approx(255 * base["image/skin"], rel=1e-4)


def test_measuring_changes_no_variable(measured):
    networks, before, _ = measured
    for network, values in zip(networks, before):
        for variable, value in zip(network.weights, values):
            np.testing.assert_array_equal(np.array(variable), value, err_msg=variable.path)


def test_format_norms_gives_one_row_per_term_and_the_share_of_content():
    table = diagnostics.format_norms({"image/con": 2.0, "generator/con": 5.0,
                                      "image/col": 0.5, "generator/col": 1.0})
    lines = table.splitlines()
    assert len(lines) == 3 and lines[1].split()[0] == "con" and lines[2].split()[0] == "col"
    assert lines[2].split()[-1] == "0.2500"


@pytest.fixture(scope="module")
def trained_run(tmp_path_factory):
    """A run folder as train() leaves it after its warm-up epoch (config.json, a complete
    checkpoint at epoch 1, generator.weights.h5), for the diagnose.py tests, which only read it:
    diagnose.py changes nothing in the run folder, and a run started from it (--init_from) lives in
    a folder of its own.

    Written with the run's own pieces (RunFolder, training_checkpoint, the trainers diagnose.py
    builds) from freshly built networks instead of by training: what diagnose.py measures holds at
    any weights, and a warm-up epoch here cost a trace of the warm-up step (some 50 s on the 2-core
    machine). That train() writes such a folder is tests/test_training.py's to check."""
    from animegan_face.training.keras_checkpoint import training_checkpoint
    from animegan_face.training.run_folder import RunFolder

    root = tmp_path_factory.mktemp("diagnose_run")
    config = tiny_config(write_prepared_dataset(root / "data"), root / "run", epochs=0)
    run = RunFolder(config.train.model_dir)
    run.write_config(config)
    warmup, gan = build_trainers(config)
    steps = config.train.steps_per_epoch
    checkpoint = training_checkpoint(run.checkpoints_dir, gan.generator, gan.discriminator,
                                     warmup.optimizer, gan.g_optimizer, gan.d_optimizer)
    checkpoint.save(config.train.init_epochs, config.train.init_epochs * steps)
    run.save_generator(gan.generator)
    assert run.latest_checkpoint() is not None
    return config


@pytest.fixture(scope="module")
def run_diagnose():
    """`run_diagnose(*flags)`: diagnose.py with `flags`, as its own command would run it (exit
    status, stdout, stderr); the module's four runs share one child process
    (`tests.helpers.ScriptRuns`), which imports TensorFlow once instead of four times."""
    runs = ScriptRuns("diagnose.py", REPO)
    yield runs
    runs.close()


# Both on one pytest-xdist worker under `make test` (--dist loadgroup): `trained_run` is written,
# and diagnose.py's process started, once.
@pytest.mark.xdist_group("diagnose_run")
def test_diagnose_cli_prints_a_table_per_colour_scale(tmp_path, trained_run, run_diagnose):
    done = run_diagnose(f"--model_dir={trained_run.train.model_dir}", "--color_scales=1,255",
                        "--distances=l1", "--batches=1", timeout=600)
    assert done.returncode == 0, done.stderr[-3000:]
    blocks = done.stdout.split("color_scale=")[1:]
    assert [block.split(",")[0] for block in blocks] == ["1", "255"]
    col = [float(line.split()[1]) for block in blocks for line in block.splitlines()
           if line.startswith("col ")]
    assert col[1] == pytest.approx(255 * col[0], rel=1e-3)  # L1: the scale multiplies the gradient
    missing = run_diagnose(f"--model_dir={tmp_path / 'nothing'}", timeout=600)
    assert missing.returncode != 0 and "nothing" in missing.stderr


@pytest.mark.xdist_group("diagnose_run")
def test_diagnose_measures_a_new_run_from_its_init_from_weights(tmp_path, trained_run,
                                                                run_diagnose):
    """Before its first checkpoint a run is measured on the weights it starts from, so the weight
    of a new term can be chosen from its gradient norm before training with it."""
    import json

    config, trained = trained_run, trained_run.train.model_dir
    fresh = dataclasses.replace(
        config, loss=dataclasses.replace(config.loss, surface=1.0, distill=1.0),
        train=dataclasses.replace(config.train, model_dir=str(tmp_path / "fresh"),
                                  init_from=trained))
    (tmp_path / "fresh").mkdir()
    (tmp_path / "fresh" / "config.json").write_text(fresh.to_json())
    done = run_diagnose(f"--model_dir={tmp_path / 'fresh'}", "--batches=1", timeout=600)
    assert done.returncode == 0, done.stderr[-3000:]
    assert f"{trained}, 1 batches" in done.stdout
    rows = {line.split()[0] for line in done.stdout.splitlines()[-12:] if line.strip()}
    assert {"surface", "distill", "con"} <= rows and "region" not in rows
    no_start = json.loads(fresh.to_json())
    no_start["train"]["init_from"] = ""
    (tmp_path / "fresh" / "config.json").write_text(json.dumps(no_start))
    missing = run_diagnose(f"--model_dir={tmp_path / 'fresh'}", timeout=600)
    assert missing.returncode != 0 and "no --init_from" in missing.stderr


def test_diagnose_batches_shift_through_the_files_when_imported():
    """diagnose.py's `_subset` on its own, as another module imports it (numpy was bound only when
    the script ran as __main__); a subprocess, so that diagnose.py's flags stay out of this one."""
    import subprocess
    import sys

    code = """
import numpy as np
import diagnose
from animegan_face.data.pipeline import DatasetFiles
files = DatasetFiles(photos=tuple(f"p{i}" for i in range(40)),
                     photo_boxes=np.arange(40 * 4, dtype=np.float32).reshape(40, 4),
                     anime=tuple(f"a{i}" for i in range(40)), smooth=tuple(f"s{i}" for i in range(40)),
                     photos_without_face=0)
shifted = diagnose._subset(files, 1, count=2)
print(shifted.photos[0], shifted.photo_boxes[0, 0], shifted.anime[0], shifted.smooth[-1])
"""
    repo = __import__("pathlib").Path(__file__).resolve().parent.parent
    done = subprocess.run([sys.executable, "-c", code], cwd=repo, capture_output=True, text=True,
                          timeout=120)
    assert done.returncode == 0, done.stderr[-3000:]
    # Batch k=1 of 2 starts 1 * 2 * 4 = 8 files on, photos and their boxes alike, wrapping around.
    assert done.stdout.split() == ["p8", "32.0", "a8", "s7"]
