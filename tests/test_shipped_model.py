"""The shipped face model (checkpoints/selfie2anime_v2) on the shipped photo: its files are the
ones its manifest lists, the float16 TFLite file and the Keras weights agree, and it stylises."""

import hashlib
import json
import pathlib
import subprocess
import sys

import numpy as np
import pytest

from animegan_face.data.image_files import read_image
from animegan_face.deployment import stylize
from animegan_face.deployment.inference import load_stylizer

REPO = pathlib.Path(__file__).resolve().parent.parent
SHIPPED = REPO / "checkpoints" / "selfie2anime_v2"
PHOTO = REPO / "assets" / "astronaut.jpg"


def _manifest():
    return json.loads((SHIPPED / "export_manifest.json").read_text())


def test_the_files_are_the_ones_the_manifest_lists():
    manifest = _manifest()
    tflite = next(entry for entry in manifest["exports"] if entry["file"] == "generator_float16.tflite")
    assert hashlib.sha256((SHIPPED / tflite["file"]).read_bytes()).hexdigest() == tflite["sha256"]
    weights = SHIPPED / "generator.weights.h5"
    assert hashlib.sha256(weights.read_bytes()).hexdigest() == manifest["source"]["generator"]["sha256"]
    config = json.loads((SHIPPED / "config.json").read_text())
    assert config["model"]["generator"] == "animegan_v2"
    assert config["model"]["extractor_weights"] == "imagenet"  # a model, not a pipeline check
    held_out = [line for line in (SHIPPED / "holdout_photos.txt").read_text().splitlines()
                if line and not line.startswith("#")]
    assert len(held_out) == len(set(held_out)) == 200


@pytest.mark.slow
def test_tflite_and_keras_weights_agree_and_the_face_is_stylised():
    size = json.loads((SHIPPED / "config.json").read_text())["data"]["image_size"]
    photo = read_image(PHOTO)
    options = stylize.StylizeOptions(mode="face", image_size=size)
    tflite = stylize.stylize_image(load_stylizer(SHIPPED / "generator_float16.tflite"), photo, options)
    keras = stylize.stylize_image(load_stylizer(SHIPPED / "generator.weights.h5"), photo, options)
    assert tflite.faces >= 1 and not tflite.fell_back_to_full
    # float16 weights against float32: export.py's float16 tolerance (0.05 of the [-1, 1] range,
    # 6.4 grey levels) bounds any pixel; after the paste-back's resize, a few levels more.
    difference = np.abs(tflite.image.astype(int) - keras.image.astype(int))
    assert difference.max() <= 12 and difference.mean() < 1.0
    # The face changed, the background did not (face mode pastes the face back).
    face = (slice(80, 180), slice(180, 270))
    assert np.abs(tflite.image[face].astype(int) - photo[face]).mean() > 2
    np.testing.assert_array_equal(tflite.image[:40, :40], photo[:40, :40])


@pytest.mark.slow
def test_make_demo_path_prints_progress_only(tmp_path):
    done = subprocess.run([sys.executable, "demo.py", f"--output_dir={tmp_path}"], cwd=REPO,
                          capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]
    assert (tmp_path / "side_by_side.png").is_file()
    printed = done.stdout + done.stderr
    assert "astronaut.jpg" in printed and "Wrote" in printed
    for noise in ("oneDNN", "XNNPACK", "cuInit", "absl::InitializeLog"):
        assert noise not in printed
