"""The shipped face model (checkpoints/selfie2anime_v3) on the shipped photo: its files are the
ones its manifest lists, it is the pseudo-pair recipe trained on from the committed stylised end,
the float16 TFLite file and the Keras weights agree, and it stylises. The model it replaced
(checkpoints/selfie2anime_v2) keeps its float16 TFLite file and manifest, for comparison."""

import json
import pathlib
import subprocess
import sys

import numpy as np
import pytest

from animegan_face.data.image_files import read_image
from animegan_face.deployment import stylize
from animegan_face.deployment.inference import load_keras_generator, load_stylizer
from animegan_face.deployment.provenance import sha256, trained_image_size

REPO = pathlib.Path(__file__).resolve().parent.parent
CHECKPOINTS = REPO / "checkpoints"
SHIPPED = CHECKPOINTS / "selfie2anime_v3"
PREVIOUS = CHECKPOINTS / "selfie2anime_v2"
STYLISED_END = CHECKPOINTS / "selfie2anime_v2_stylised"
PHOTO = REPO / "assets" / "astronaut.jpg"


def _manifest(folder=SHIPPED):
    return json.loads((folder / "export_manifest.json").read_text())


@pytest.mark.parametrize("folder", [SHIPPED, PREVIOUS], ids=["shipped", "previous"])
def test_the_tflite_file_is_the_one_the_manifest_lists(folder):
    # v2 keeps only this file (the README's comparison); its Keras weights are in git history.
    manifest = _manifest(folder)
    tflite = next(entry for entry in manifest["exports"] if entry["file"] == "generator_float16.tflite")
    assert sha256(folder / tflite["file"]) == tflite["sha256"]


def test_the_shipped_generator_is_the_pair_recipe_from_the_stylised_end():
    manifest = _manifest()
    assert sha256(SHIPPED / "generator.weights.h5") == manifest["source"]["generator"]["sha256"]
    config = json.loads((SHIPPED / "config.json").read_text())
    assert manifest["source"]["training_run"]["config"] == config  # the run that made it
    # The recipe of the model card: ImageNet VGG16 features, the pair term on make_pairs.py's
    # targets, the content term measured against them, 128 px windows of 256 px photos.
    assert config["model"]["generator"] == "animegan_v2"
    assert config["model"]["extractor_weights"] == "imagenet"
    assert config["loss"]["pair"] > 0 and config["loss"]["content_source"] == "pair"
    assert (config["data"]["image_size"], config["data"]["crop_size"]) == (256, 128)
    # Trained on from the stylised end (directly, or through the pair run's committed state).
    assert config["train"]["init_from"] in ("checkpoints/selfie2anime_v2_stylised",
                                            "checkpoints/selfie2anime_v2_pairs")
    steps = json.loads((SHIPPED / "counters.json").read_text())["step"]
    assert steps > 0
    shipped = load_keras_generator(SHIPPED / "generator.weights.h5").get_weights()
    start = load_keras_generator(STYLISED_END / "generator.weights.h5").get_weights()
    assert len(shipped) == len(start) == 77
    assert not np.array_equal(shipped[0], start[0])  # it trained
    held_out = [line for line in (PREVIOUS / "holdout_photos.txt").read_text().splitlines()
                if line and not line.startswith("#")]
    assert len(held_out) == len(set(held_out)) == 200


@pytest.mark.slow
def test_tflite_and_keras_weights_agree_and_the_face_is_stylised():
    size = trained_image_size(_manifest()["source"])
    assert size == 256  # the size both ends trained at last (what demo.py feeds it)
    photo = read_image(PHOTO)
    options = stylize.StylizeOptions(mode="face", image_size=size)
    tflite = stylize.stylize_image(load_stylizer(SHIPPED / "generator_float16.tflite"), photo, options)
    keras = stylize.stylize_image(load_stylizer(SHIPPED / "generator.weights.h5"), photo, options)
    assert tflite.faces >= 1 and not tflite.fell_back_to_full
    # float16 weights against float32: the shipped file's largest difference on the check images
    # was 0.003 of the [-1, 1] range (its export_manifest.json), under half a grey level; after the
    # paste-back's resize and on another photo, a few levels more, far inside 12.
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
