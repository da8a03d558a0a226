"""The run folder and the run checks shared by both backends: config.json, a model_dir's
checkpoints, batch split, and the precision policy."""

import json

import pytest

from animegan_face.config import Config, LossConfig, ModelConfig, TrainConfig
from animegan_face.training.loop import make_adam, set_precision_policy
from animegan_face.training.run_checks import SetupError, check_batch_split
from animegan_face.training.run_folder import RunFolder

# The generator of the legacy TensorFlow checkpoints and of the tests below (the default was v1).
_V1 = ModelConfig(generator="animegan_v1")


def _legacy_tensorflow_run(model_dir):
    (model_dir / "checkpoints").mkdir(parents=True)
    (model_dir / "checkpoints" / "checkpoint").write_text('model_checkpoint_path: "ckpt-2"\n')


def _run(model_dir, name="keras-ckpt-2"):
    (model_dir / "checkpoints" / name).mkdir(parents=True)


def test_a_run_of_the_older_tensorflow_format_is_refused_in_one_line_naming_init_from(tmp_path):
    _legacy_tensorflow_run(tmp_path)
    run = RunFolder(tmp_path)
    assert run.has_checkpoints() and run.latest_checkpoint() is None
    with pytest.raises(SetupError, match=f"KERAS_BACKEND=tensorflow.*--init_from={tmp_path} ") as raised:
        run.refuse_legacy_checkpoint()
    assert "\n" not in str(raised.value)


def test_runs_in_the_one_format_and_new_folders_pass(tmp_path):
    RunFolder(tmp_path / "new").refuse_legacy_checkpoint()  # nothing there yet
    assert not RunFolder(tmp_path / "new").has_checkpoints()
    _run(tmp_path / "own")
    RunFolder(tmp_path / "own").refuse_legacy_checkpoint()
    _legacy_tensorflow_run(tmp_path / "resumed")  # resumed once under TensorFlow: the newer wins
    _run(tmp_path / "resumed", "keras-ckpt-3")
    RunFolder(tmp_path / "resumed").refuse_legacy_checkpoint()
    assert RunFolder(tmp_path / "resumed").latest_checkpoint().name == "keras-ckpt-3"


def test_an_unfinished_save_is_not_a_checkpoint(tmp_path):
    _run(tmp_path, "keras-ckpt-1.partial")  # a save killed before its rename
    assert not RunFolder(tmp_path).has_checkpoints()


def test_batch_split_names_the_count_and_devices():
    check_batch_split(4, 2, "replicas")
    with pytest.raises(SetupError, match=r"global batch \(3\) .* number of devices \(2, cpu:0, cpu:1\)"):
        check_batch_split(3, 2, "devices", ["cpu:0", "cpu:1"])


def test_write_config_keeps_a_damaged_one_and_replaces_different_settings(tmp_path, capsys):
    config = Config(train=TrainConfig(model_dir=str(tmp_path)))
    (tmp_path / "config.json").write_text("{trunc")  # e.g. a copy cut short
    RunFolder(tmp_path).write_config(config)
    assert Config.from_json((tmp_path / "config.json").read_text()) == config
    assert "config.json was damaged (not JSON" in capsys.readouterr().out
    assert (tmp_path / "config.json.damaged").read_text() == "{trunc"  # kept, named
    other = Config(train=TrainConfig(model_dir=str(tmp_path), epochs=7))
    RunFolder(tmp_path).write_config(other)
    assert "differs from this run's settings" in capsys.readouterr().out
    assert json.loads((tmp_path / "config.json").read_text())["train"]["epochs"] == 7
    assert sorted(p.name for p in tmp_path.iterdir()) == ["config.json", "config.json.damaged"]


def test_a_damaged_config_json_cannot_lock_a_run_out_of_its_checkpoints(tmp_path, capsys):
    """Issue 26: with config.json damaged, a v1 run on v2 checkpoints rewrote it before its restore
    failed; after that neither generator could resume. The checkpoint now tells which fits."""
    from animegan_face.models.networks import build_generator

    _run(tmp_path)
    build_generator("animegan_v2").save_weights(tmp_path / "checkpoints" / "keras-ckpt-2" / "generator.weights.h5")
    (tmp_path / "config.json").write_bytes(b"\x00\x00 disk error")
    v2 = Config.from_dict({**Config(train=TrainConfig(model_dir=str(tmp_path))).to_dict(),
                           "model": {"generator": "animegan_v2"}})
    v1 = Config(model=_V1, train=TrainConfig(model_dir=str(tmp_path)))
    assert RunFolder(tmp_path).checkpoint_generator() == "animegan_v2"
    with pytest.raises(SetupError, match="checkpoints of the animegan_v2 generator.*damaged"):
        RunFolder(tmp_path).write_config(v1)
    assert (tmp_path / "config.json").read_bytes() == b"\x00\x00 disk error"  # untouched
    RunFolder(tmp_path).write_config(v2)  # the generator that fits resumes
    assert Config.from_json((tmp_path / "config.json").read_text()) == v2
    assert (tmp_path / "config.json.damaged").read_bytes() == b"\x00\x00 disk error"
    assert "kept as config.json.damaged" in capsys.readouterr().out


@pytest.mark.parametrize("make_run", [_legacy_tensorflow_run, _run])
def test_another_generator_cannot_resume_a_run(tmp_path, make_run):
    old = Config(model=_V1, train=TrainConfig(model_dir=str(tmp_path)))
    RunFolder(tmp_path).write_config(old)
    new = Config.from_dict({**old.to_dict(), "model": {"generator": "animegan_v2"}})
    RunFolder(tmp_path).write_config(new)  # no checkpoint yet: a new architecture is just a new setting
    RunFolder(tmp_path).write_config(old)
    make_run(tmp_path)
    with pytest.raises(SetupError, match="checkpoints of the animegan_v1 generator.*--generator=animegan_v1"):
        RunFolder(tmp_path).write_config(new)
    assert Config.from_json((tmp_path / "config.json").read_text()) == old


def test_a_config_json_from_before_the_generator_setting_means_v1(tmp_path):
    old = Config(train=TrainConfig(model_dir=str(tmp_path))).to_dict()
    del old["model"]["generator"]
    (tmp_path / "config.json").write_text(json.dumps(old))
    assert Config.from_dict(old).model.generator == "animegan_v1"
    _legacy_tensorflow_run(tmp_path)
    with pytest.raises(SetupError, match="animegan_v1 generator"):
        RunFolder(tmp_path).write_config(Config.from_dict({**old, "model": {"generator": "animegan_v2"}}))


def test_a_config_json_from_before_the_one_input_pipeline_resumes_as_the_same_settings(tmp_path, capsys):
    config = Config(model=_V1, train=TrainConfig(model_dir=str(tmp_path)))
    old = config.to_dict()
    old["data"]["shuffle_buffer"] = 2048  # tf.data's shuffle, before both backends shared a pipeline
    (tmp_path / "config.json").write_text(json.dumps(old))
    _legacy_tensorflow_run(tmp_path)
    assert Config.from_dict(old) == config
    RunFolder(tmp_path).write_config(config)
    assert capsys.readouterr().out == ""  # not called different settings
    assert "shuffle_buffer" not in json.loads((tmp_path / "config.json").read_text())["data"]


def test_a_config_json_from_before_bfloat16_and_color_scale_keeps_its_meaning():
    old = Config().to_dict()
    del old["loss"]["color_scale"]
    for flag, precision in ((True, "float16"), (False, "off")):
        old["train"]["mixed_precision"] = flag
        config = Config.from_dict(old)
        assert config.train.mixed_precision == precision
        assert config.loss.color_scale == 1.0  # YUV of [0, 1] images, as such runs trained
    with pytest.raises(ValueError, match="mixed_precision"):
        TrainConfig(mixed_precision="int8")
    with pytest.raises(ValueError, match="color_scale"):
        LossConfig(color_scale=0.0)


@pytest.mark.parametrize("precision, policy, scaled", [
    ("off", "float32", False), ("bfloat16", "mixed_bfloat16", False),
    ("float16", "mixed_float16", True)])
def test_precision_sets_the_policy_and_loss_scaling_only_for_float16(precision, policy, scaled):
    import keras

    config = Config(train=TrainConfig(mixed_precision=precision))
    try:
        set_precision_policy(config)
        assert keras.mixed_precision.global_policy().name == policy
    finally:
        keras.mixed_precision.set_global_policy("float32")
    optimizer = make_adam(1e-4, config)
    assert isinstance(optimizer, keras.optimizers.LossScaleOptimizer) == scaled
