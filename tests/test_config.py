"""The config as the one source of every option: train.py's flags, presets, the defaults that
train the shipped recipe, compute precision, and config.json files written by older versions."""

import dataclasses
import json
import pathlib
import subprocess
import sys

import pytest

from animegan_face.config import (
    PRESETS, Config, DataConfig, LossConfig, ModelConfig, TrainConfig, compute_precision,
    config_from_options, options)

REPO = pathlib.Path(__file__).resolve().parent.parent
# Flags train.py defines that are not config fields.
SCRIPT_FLAGS = {"preset", "dry_run"}


def _train_py_flags():
    """{name: (default, help, enum values or None)} of every flag train.py itself defines, read in
    a child process so that train.py's flags stay out of this one."""
    code = """
import json
from absl import flags
import train
found = {}
for flag in flags.FLAGS.get_flags_for_module("train"):
    found[flag.name] = [flag.default, flag.help, getattr(flag.parser, "enum_values", None)]
print(json.dumps(found))
"""
    done = subprocess.run([sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True,
                          timeout=120)
    assert done.returncode == 0, done.stderr[-3000:]
    return json.loads(done.stdout)


def _dry_run(*flags):
    done = subprocess.run([sys.executable, "train.py", "--dry_run", *flags], cwd=REPO,
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr[-3000:]
    return Config.from_json(done.stdout)


def test_every_flag_of_train_py_is_a_config_field_with_its_default_and_help():
    flags = _train_py_flags()
    fields = {option.flag: option for option in options()}
    assert set(flags) - SCRIPT_FLAGS == set(fields)
    for name, option in fields.items():
        default, help_text, choices = flags[name]
        assert choices == (list(option.choices) if option.choices else None), name
        enum_prefix = f"<{'|'.join(option.choices)}>: " if option.choices else ""  # absl's, for enums
        assert help_text == enum_prefix + option.help, name
        assert default == (None if option.required else option.default), name


def test_every_field_has_help_and_a_flag_name_of_its_own():
    found = options()
    assert {(o.section, o.field) for o in found} == {
        (section, field) for section, cls in (("data", DataConfig), ("model", ModelConfig),
                                               ("loss", LossConfig), ("train", TrainConfig))
        for field in cls.__dataclass_fields__}
    assert all(o.help.strip() for o in found)
    assert len({o.flag for o in found}) == len(found)
    assert {o.flag for o in found if o.section == "loss" and o.kind is float} >= {
        "adv_weight", "con_weight", "gra_weight", "col_weight", "skin_weight", "face_weight"}


def test_a_preset_sets_data_and_train_fields_and_explicit_options_win():
    smoke = PRESETS["smoke"]
    config = config_from_options({"model_dir": "run", "epochs": 3}, smoke)
    assert (config.data.image_size, config.data.batch_size) == (64, 2)  # from the preset
    assert (config.train.epochs, config.train.steps_per_epoch) == (3, 2)  # explicit, preset
    assert config.model.extractor_weights == "none" and config.train.model_dir == "run"
    with pytest.raises(ValueError, match="not config options: \\['epoch'\\]"):
        config_from_options({"epoch": 3}, smoke)


def test_train_py_applies_a_preset_to_data_and_train_fields_and_an_explicit_flag_wins(tmp_path):
    config = _dry_run(f"--model_dir={tmp_path}", "--preset=smoke")
    smoke = PRESETS["smoke"]
    assert config == dataclasses.replace(
        smoke, train=dataclasses.replace(smoke.train, model_dir=str(tmp_path)))
    assert (config.data.image_size, config.train.epochs) == (64, 1)
    config = _dry_run(f"--model_dir={tmp_path}", "--preset=smoke", "--image_size=128",
                      "--epochs=3", "--face_weight=1", "--generator=animegan_v1")
    assert (config.data.image_size, config.data.batch_size) == (128, 2)
    assert (config.train.epochs, config.train.init_epochs, config.train.steps_per_epoch) == (3, 1, 2)
    assert (config.loss.face, config.model.generator) == (1.0, "animegan_v1")
    # A flag given with its default value still wins over the preset.
    assert _dry_run(f"--model_dir={tmp_path}", "--preset=smoke",
                    "--image_size=256").data.image_size == 256


def test_the_defaults_train_the_shipped_models_recipe(tmp_path):
    """`train.py` with only the folders trains the networks, loss weights, colour scale and batch
    of the shipped model's faithful end (its committed config.json), at 256 px."""
    shipped = Config.from_json((REPO / "checkpoints" / "selfie2anime_v2_faithful" / "config.json")
                               .read_text())
    config = _dry_run(f"--model_dir={tmp_path}", f"--dataset_dir={tmp_path}")
    assert config.model == shipped.model
    assert config.loss == shipped.loss
    assert (config.data.image_size, config.data.batch_size) == (256, 8)
    assert (config.model.generator, config.model.extractor, config.model.face_extractor,
            config.loss.color_scale) == ("animegan_v2", "vgg16", "vgg16", 32.0)
    assert config == Config(data=DataConfig(dataset_dir=str(tmp_path)),
                            train=TrainConfig(model_dir=str(tmp_path)))
    assert config.train.mixed_precision == "auto"


def test_model_dir_is_required_and_unknown_flags_are_refused(tmp_path):
    done = subprocess.run([sys.executable, "train.py", "--dry_run"], cwd=REPO, capture_output=True,
                          text=True, timeout=120)
    assert done.returncode != 0 and "--model_dir" in done.stderr
    done = subprocess.run([sys.executable, "train.py", "--dry_run", f"--model_dir={tmp_path}",
                           "--colour_scale=32"], cwd=REPO, capture_output=True, text=True,
                          timeout=120)
    assert done.returncode != 0 and "colour_scale" in done.stderr


@pytest.mark.parametrize("setting, native, gpu, expected", [
    ("auto", True, False, "bfloat16"), ("auto", False, False, "off"), ("auto", None, False, "off"),
    ("auto", False, True, "bfloat16"), ("off", True, True, "off"),
    ("bfloat16", False, False, "bfloat16"), ("float16", False, True, "float16")])
def test_auto_precision_is_bfloat16_only_where_the_hardware_has_it(setting, native, gpu, expected):
    assert compute_precision(setting, native, gpu) == expected


def test_steps_per_epoch_zero_means_automatic():
    assert TrainConfig(steps_per_epoch=0).steps_per_epoch is None
    with pytest.raises(ValueError, match="steps_per_epoch"):
        TrainConfig(steps_per_epoch=-1)


def test_a_config_json_without_the_newer_fields_keeps_the_settings_it_trained_with():
    """Fields whose default changed: a config.json that lacks one was written before it existed,
    when the run trained with the old value (v1 generator, VGG19, ResNet101, float32, [0, 1] YUV)."""
    old = Config().to_dict()
    for section, field in (("model", "generator"), ("model", "extractor"),
                           ("model", "face_extractor"), ("train", "mixed_precision"),
                           ("loss", "color_scale"), ("data", "batch_size")):
        del old[section][field]
    config = Config.from_dict(old)
    assert (config.model.generator, config.model.extractor, config.model.face_extractor) == (
        "animegan_v1", "vgg19", "resnet101")
    assert (config.train.mixed_precision, config.loss.color_scale, config.data.batch_size) == (
        "off", 1.0, 6)
    # A complete config.json is read as written, whatever the defaults are.
    assert Config.from_dict(Config().to_dict()) == Config()


@pytest.mark.slow
def test_offline_the_default_run_stops_naming_fetch_weights(tmp_path):
    """train.py with the default (ImageNet VGG16) extractors, neither the file fetch_weights.py
    writes (conftest's empty KERAS_HOME) nor a download (keras.applications.VGG16 refuses, as
    offline): one line naming `fetch_weights.py vgg16`, no traceback. Nothing is downloaded."""
    from tests.helpers import write_prepared_dataset

    dataset = write_prepared_dataset(tmp_path / "data")
    flags = [f"--dataset_dir={dataset}", f"--model_dir={tmp_path / 'run'}",
             # smaller and float32 for speed; the networks and weights are the defaults
             "--image_size=32", "--batch_size=2", "--mixed_precision=off"]
    code = f"""
import runpy, sys
import keras
real = keras.applications.VGG16
def offline(*args, weights=None, **kwargs):
    if weights == "imagenet":
        raise OSError("URL fetch failure: no network (test)")
    return real(*args, weights=weights, **kwargs)
keras.applications.VGG16 = offline
sys.argv = ["train.py", *{flags!r}]
runpy.run_path("train.py", run_name="__main__")
"""
    done = subprocess.run([sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True,
                          timeout=300)
    assert done.returncode == 1, done.stdout[-2000:] + done.stderr[-2000:]
    assert "Traceback" not in done.stderr
    assert "train.py: Could not get the ImageNet weights of VGG16" in done.stderr
    assert "`python fetch_weights.py vgg16`" in done.stderr.splitlines()[-1]
    written = Config.from_json((tmp_path / "run" / "config.json").read_text())
    assert (written.model.extractor, written.model.extractor_weights) == ("vgg16", "imagenet")
