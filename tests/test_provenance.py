"""The provenance record of exports: hashes, the training run it names, and the manifest's merging."""

import dataclasses
import hashlib
import json

import pytest

from animegan_face.config import Config, DataConfig, ModelConfig, TrainConfig
from animegan_face.deployment import provenance


def test_sha256_of_a_file_and_of_a_folder(tmp_path):
    (tmp_path / "f.bin").write_bytes(b"abc")
    assert provenance.sha256(tmp_path / "f.bin") == (
        "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad")  # FIPS 180-2 example
    folder = tmp_path / "saved"
    (folder / "variables").mkdir(parents=True)
    (folder / "saved_model.pb").write_bytes(b"graph")
    (folder / "variables" / "v").write_bytes(b"w")
    expected = hashlib.sha256(b"saved_model.pb\0graph" + b"variables/v\0w").hexdigest()
    assert provenance.sha256(folder) == expected
    (folder / "variables" / "v").write_bytes(b"W")
    assert provenance.sha256(folder) != expected


def _run_dir(tmp_path, extractor_weights):
    model_dir = tmp_path / "run"
    dataset = tmp_path / "prepared"
    dataset.mkdir(parents=True)
    (dataset / "prepare_report.json").write_text(json.dumps({"fingerprint": "f1ng3r"}))
    config = Config(data=DataConfig(dataset_dir=str(dataset)),
                    model=ModelConfig(extractor="vgg19", extractor_weights=extractor_weights,
                                      face_extractor_weights="none"),
                    train=TrainConfig(model_dir=str(model_dir)))
    model_dir.mkdir()
    (model_dir / "config.json").write_text(config.to_json())
    (model_dir / "generator.weights.h5").write_bytes(b"generator")
    return model_dir, config


def test_source_of_a_run_saved_in_the_older_tensorflow_format(tmp_path):
    import tensorflow as tf

    vgg = tmp_path / "vgg19.weights.h5"
    vgg.write_bytes(b"vgg weights")
    model_dir, config = _run_dir(tmp_path, str(vgg))
    checkpoint = tf.train.Checkpoint(epoch=tf.Variable(3, dtype=tf.int64),
                                     step=tf.Variable(12, dtype=tf.int64))
    tf.train.CheckpointManager(checkpoint, model_dir / "checkpoints", 3).save(checkpoint_number=3)

    source = provenance.source_record(model_dir)
    assert source["generator"]["sha256"] == hashlib.sha256(b"generator").hexdigest()
    run = source["training_run"]
    assert Config.from_dict(run["config"]) == config
    assert (run["progress"]["epoch"], run["progress"]["step"]) == (3, 12)
    assert run["progress"]["checkpoint"].endswith("ckpt-3")
    assert source["extractors"]["content"] == {
        "network": "vgg19", "weights": str(vgg),
        "sha256_at_export": hashlib.sha256(b"vgg weights").hexdigest()}
    assert source["extractors"]["face"]["weights"] == "none"
    assert source["dataset"]["fingerprint"] == "f1ng3r"
    assert "random-weight face extractor" in provenance.random_extractor_warning(source)

    # A face extractor that was never built (face weight 0) is not reported as random.
    off = dataclasses.replace(config, loss=dataclasses.replace(config.loss, face=0.0))
    (model_dir / "config.json").write_text(off.to_json())
    source = provenance.source_record(model_dir)
    assert source["extractors"]["face"]["network"] == "none"
    assert provenance.random_extractor_warning(source) is None


def test_source_of_a_run_and_of_a_bare_file(tmp_path):
    model_dir, _ = _run_dir(tmp_path, "imagenet")
    for epoch, step in ((1, 4), (2, 8)):
        folder = model_dir / "checkpoints" / f"keras-ckpt-{epoch}"
        folder.mkdir(parents=True)
        (folder / "counters.json").write_text(json.dumps({"epoch": epoch, "step": step}))
    (model_dir / "checkpoints" / "keras-ckpt-9.partial").mkdir()  # an unfinished save: ignored
    source = provenance.source_record(model_dir)
    assert (source["training_run"]["progress"]["epoch"],
            source["training_run"]["progress"]["step"]) == (2, 8)
    assert source["extractors"]["content"]["weights"] == "imagenet"

    bare = provenance.source_record(model_dir / "generator.weights.h5")
    assert bare["training_run"] is None and "extractors" not in bare
    assert provenance.random_extractor_warning(bare) is None


def test_a_model_folder_of_blended_weights_is_no_training_run_but_keeps_its_config(tmp_path):
    """The shipped model's folder: weights made by interpolate.py (their .source.json record) and a
    config.json that only says how the generator is built (architecture, output filter, size)."""
    folder = tmp_path / "shipped"
    folder.mkdir()
    (folder / "generator.weights.h5").write_bytes(b"blend")
    blend = {"interpolation": {"alpha": 0.5, "a": {"training_run": None}, "b": {}}}
    (folder / "generator.weights.h5.source.json").write_text(json.dumps(blend))
    settings = {"data": {"image_size": 256}, "model": {"generator": "animegan_v2",
                                                       "output_filter_radius": 4}}
    (folder / "config.json").write_text(json.dumps(settings))
    source = provenance.source_record(folder)
    assert source["training_run"] is None and "extractors" not in source
    assert source["interpolated_from"] == blend and source["config"] == settings
    assert provenance.model_image_size(folder) == 256
    # A training run whose generator started from converted weights is still a run.
    model_dir, _ = _run_dir(tmp_path, "imagenet")
    (model_dir / "generator.weights.h5.source.json").write_text(json.dumps({"file": "x.pth"}))
    (model_dir / "checkpoints" / "keras-ckpt-1").mkdir(parents=True)
    (model_dir / "checkpoints" / "keras-ckpt-1" / "counters.json").write_text(
        json.dumps({"epoch": 1, "step": 4}))
    run = provenance.source_record(model_dir)
    assert run["training_run"]["progress"]["step"] == 4 and run["converted_from"] == {"file": "x.pth"}


def test_trained_image_size_of_a_run_a_blend_and_a_bare_file(tmp_path):
    model_dir, config = _run_dir(tmp_path, "imagenet")
    run = provenance.source_record(model_dir)
    assert provenance.trained_image_size(run) == config.data.image_size
    bare = provenance.source_record(model_dir / "generator.weights.h5")
    assert provenance.trained_image_size(bare) is None
    # A blend answers with its first end's size (interpolate.py's record, as in a manifest).
    blend = {"training_run": None, "interpolated_from": {"interpolation": {
        "alpha": 0.5, "a": {**run, "training_run": {**run["training_run"], "config": {
            **run["training_run"]["config"], "data": {"image_size": 96}}}}, "b": bare}}}
    assert provenance.trained_image_size(blend) == 96

    # By path, what stylize.py and demo.py feed a model: a run folder or a file in it reads
    # config.json; an export folder or a file in it, its manifest (a blend's: the first end's).
    assert provenance.model_image_size(model_dir) == config.data.image_size
    assert provenance.model_image_size(model_dir / "generator.weights.h5") == config.data.image_size
    exported = tmp_path / "export"
    exported.mkdir()
    (exported / provenance.MANIFEST).write_text(json.dumps({"source": blend, "exports": []}))
    assert provenance.model_image_size(exported / "generator_float16.tflite") == 96
    assert provenance.model_image_size(exported) == 96
    assert provenance.model_image_size(tmp_path / "bare.tflite", default=128) == 128


def test_software_record_names_the_versions():
    software = provenance.software_record()
    assert software["tensorflow"] and software["keras"] and software["python"]
    commit = software["animegan_face_commit"]
    assert commit is None or len(commit.split("+")[0]) == 40


@dataclasses.dataclass
class _Result:  # the fields of export.ExportResult the manifest reads
    path: object
    kind: str
    size_bytes: int
    max_difference: float = 0.001
    percentile_difference: float = 0.0005
    mean_difference: float = 0.0001
    tolerance: tuple = (0.02, 0.001)


def test_manifest_keeps_unchanged_earlier_files_only(tmp_path):
    for name in ("a.tflite", "b.tflite", "c.tflite"):
        (tmp_path / name).write_bytes(name.encode())
    first = [provenance.export_entry(_Result(tmp_path / n, "none", 8), None)
             for n in ("a.tflite", "b.tflite", "c.tflite")]
    provenance.write_manifest(tmp_path, {"run": 1}, {"v": 1}, first)

    (tmp_path / "b.tflite").write_bytes(b"changed by hand")
    (tmp_path / "c.tflite").unlink()
    (tmp_path / "d.tflite").write_bytes(b"d")
    second = [provenance.export_entry(_Result(tmp_path / "d.tflite", "float16", 1), 256)]
    path = provenance.write_manifest(tmp_path, {"run": 2}, {"v": 2}, second)

    manifest = json.loads(path.read_text())
    assert manifest["source"] == {"run": 2} and manifest["software"] == {"v": 2}
    entries = {entry["file"]: entry for entry in manifest["exports"]}
    assert sorted(entries) == ["a.tflite", "d.tflite"]
    assert entries["a.tflite"]["source"] == {"run": 1}  # its own origin, not this run's
    assert entries["d.tflite"]["sha256"] == hashlib.sha256(b"d").hexdigest()
    assert entries["d.tflite"]["input_size"] == 256 and "source" not in entries["d.tflite"]
    assert sorted(p.name for p in tmp_path.iterdir()) == [
        "a.tflite", "b.tflite", "d.tflite", "export_manifest.json"]  # no temporary left


@pytest.mark.parametrize("content", ["{not json", "", "[1, 2]"])
def test_an_unreadable_manifest_is_replaced(tmp_path, content):
    (tmp_path / "x.tflite").write_bytes(b"x")
    (tmp_path / provenance.MANIFEST).write_text(content)
    entry = provenance.export_entry(_Result(tmp_path / "x.tflite", "none", 1), None)
    path = provenance.write_manifest(tmp_path, {}, {}, [entry])
    assert [e["file"] for e in json.loads(path.read_text())["exports"]] == ["x.tflite"]
