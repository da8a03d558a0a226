"""The shipped face model (checkpoints/selfie2anime_v6) on the shipped photo: its files are the
ones its manifest lists, it is the mean of three checkpoints of one run trained on from v3 with
v5's recipe plus the crack term and a doubled Gram term, its float16 TFLite and ONNX files and the
Keras weights agree, and it stylises. The models it replaced (checkpoints/selfie2anime_v5, v3,
v2) keep their float16 TFLite file and manifest, for comparison; v3 keeps its G and D, where runs
go on from."""

import json
import pathlib
import subprocess
import sys

import numpy as np
import pytest

from animegan_face.data.image_files import read_image
from animegan_face.deployment import stylize
from animegan_face.deployment.inference import SHIPPED_MODEL, load_keras_generator, load_stylizer
from animegan_face.deployment.provenance import sha256, trained_image_size

REPO = pathlib.Path(__file__).resolve().parent.parent
CHECKPOINTS = REPO / "checkpoints"
SHIPPED = CHECKPOINTS / "selfie2anime_v6"
PREVIOUS = CHECKPOINTS / "selfie2anime_v5"
START = CHECKPOINTS / "selfie2anime_v3"
V2 = CHECKPOINTS / "selfie2anime_v2"
PHOTO = REPO / "assets" / "astronaut.jpg"


def _manifest(folder=SHIPPED):
    return json.loads((folder / "export_manifest.json").read_text())


def test_the_model_the_scripts_run_is_this_one():
    assert SHIPPED_MODEL == SHIPPED


@pytest.mark.parametrize("folder, name", [
    (SHIPPED, "generator_float16.tflite"), (SHIPPED, "generator.onnx"),
    (PREVIOUS, "generator_float16.tflite"), (START, "generator_float16.tflite"),
    (V2, "generator_float16.tflite")], ids=["shipped", "shipped-onnx", "previous", "v3", "v2"])
def test_the_exported_file_is_the_one_the_manifest_lists(folder, name):
    # v2 keeps only its TFLite file (the README's comparison); its Keras weights are in git history.
    manifest = _manifest(folder)
    export = next(entry for entry in manifest["exports"] if entry["file"] == name)
    assert sha256(folder / name) == export["sha256"]


def _leaves(record):
    """The (weight, training run) pairs of an interpolate.py record, nested records unrolled."""
    if "interpolated_from" not in record:
        return [(1.0, record["training_run"])]
    blend = record["interpolated_from"]["interpolation"]
    return ([(weight * (1 - blend["alpha"]), run) for weight, run in _leaves(blend["a"])]
            + [(weight * blend["alpha"], run) for weight, run in _leaves(blend["b"])])


def test_the_shipped_generator_is_the_mean_of_three_checkpoints_of_one_v5_run_with_crack_and_gram():
    manifest = _manifest()
    source = manifest["source"]
    assert sha256(SHIPPED / "generator.weights.h5") == source["generator"]["sha256"]
    assert source["interpolated_from"]["interpolated_to_sha256"] == source["generator"]["sha256"]
    config = json.loads((SHIPPED / "config.json").read_text())
    assert source["config"] == config
    # Three different checkpoints, weighted equally, all of the one run whose config ships.
    leaves = _leaves(source)
    assert [weight for weight, _ in leaves] == pytest.approx([1 / 3] * 3, rel=1e-12)
    assert len({run["model_dir"] for _, run in leaves}) == 3
    assert all(run["config"] == config for _, run in leaves)
    # The model card's recipe: v5's (v3's pair flags, the skin term on the face's mean colour at
    # 300, grain 0.03 on the generator's input) with the crack term at 3000 and Gram at 7.
    assert config["model"]["generator"] == "animegan_v2"
    assert config["model"]["extractor_weights"] == "imagenet"
    assert config["loss"]["pair"] > 0 and config["loss"]["content_source"] == "pair"
    assert (config["loss"]["skin"], config["loss"]["skin_statistic"]) == (300.0, "mean")
    assert config["loss"]["input_grain"] == 0.03
    assert (config["loss"]["crack"], config["loss"]["gra"]) == (3000.0, 7.0)
    assert config["train"]["init_from"] == "checkpoints/selfie2anime_v3"  # v3's committed G and D
    # v5: the same recipe without the crack term, Gram at 3.5.
    previous = json.loads((PREVIOUS / "config.json").read_text())
    assert previous["loss"].get("crack", 0.0) == 0.0 and previous["loss"]["gra"] == 3.5
    assert {**previous["loss"], "crack": 3000.0, "gra": 7.0} == config["loss"]
    assert (config["data"]["image_size"], config["data"]["crop_size"]) == (256, 128)
    shipped = load_keras_generator(SHIPPED / "generator.weights.h5").get_weights()
    start = load_keras_generator(START / "generator.weights.h5").get_weights()
    assert len(shipped) == len(start) == 77
    assert not np.array_equal(shipped[0], start[0])  # it trained on from v3
    held_out = [line for line in (V2 / "holdout_photos.txt").read_text().splitlines()
                if line and not line.startswith("#")]
    assert len(held_out) == len(set(held_out)) == 200


def test_v3_the_start_of_v4_to_v6_is_the_pair_recipe_from_the_stylised_end():
    manifest = _manifest(START)
    assert sha256(START / "generator.weights.h5") == manifest["source"]["generator"]["sha256"]
    config = json.loads((START / "config.json").read_text())
    assert manifest["source"]["training_run"]["config"] == config
    assert config["loss"]["pair"] > 0 and config["loss"]["content_source"] == "pair"
    # Trained on from the stylised end (through the pair run's committed state).
    assert config["train"]["init_from"] in ("checkpoints/selfie2anime_v2_stylised",
                                            "checkpoints/selfie2anime_v2_pairs")
    assert (START / "discriminator.weights.h5").is_file()
    assert json.loads((START / "counters.json").read_text())["step"] > 0


@pytest.mark.slow
def test_tflite_onnx_and_keras_weights_agree_and_the_face_is_stylised():
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
    # ONNX keeps float32 weights: 3e-5 of the range on the check images (the manifest), so the
    # rounding to grey levels is all that can differ, on any CPU.
    onnx = stylize.stylize_image(load_stylizer(SHIPPED / "generator.onnx"), photo, options)
    assert np.abs(onnx.image.astype(int) - keras.image.astype(int)).max() <= 1
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
