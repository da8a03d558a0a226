"""Export round trips at 32 px: each format runs and matches Keras within its tolerance."""

import json
import os
import pathlib

import numpy as np
import pytest

import keras

from animegan_face.deployment import export
from animegan_face.deployment.inference import ModelLoadError, load_stylizer
from animegan_face.models.networks import build_generator
from tests.helpers import ScriptRuns

# One conversion per setting of the shared generator, and one pytest-xdist worker for this module,
# test_gpu_compatibility and test_tflite_graph, which ask for the same files (tests/conftest.py).
pytestmark = [pytest.mark.slow, pytest.mark.usefixtures("export_each_shared_generator_once"),
              pytest.mark.xdist_group("tflite_conversions")]
SIZE = 32
REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


@pytest.fixture(scope="module")
def generator(random_generator):
    # Its random weights come from the seed drawn right before it (tests/conftest.py), not from
    # the tests that happened to run before it in this process: the quantised exports' errors
    # below depend on the weights (dynamic int8 mean 0.086-0.094 over six seeds).
    return random_generator("animegan_v1")


# What each format differs from Keras by (export.TOLERANCES) on this generator at 32 px, measured
# with oneDNN on, off and limited to AVX2 (max / mean): SavedModel 0 / 0 (the same TensorFlow
# kernels, in a graph); TFLite float32 3.5e-5-5.5e-5 / 4.7e-6 (XNNPACK sums in another order:
# 360 times below 0.02); float16 0.018 / 0.0022, int8 1.39 / 0.229 and dynamic int8 0.655 / 0.0876,
# the same to 1e-5 in all three. The quantised errors are set by rounding the weights (and, for int8,
# the activations) to fixed grids, the same on every CPU; a CPU changes only the float32 arithmetic
# around them (1e-5), far inside the margins left (float16 2.2x, int8 1.3x, dynamic int8 1.14x on
# the mean). Since the TFLite graph rewrite (tflite_graph.py), measured with oneDNN on only: float32
# 3.7e-5 / 4.6e-6, float16 and dynamic int8 unchanged, int8 1.32 / 0.195 (margin 1.5x).


@pytest.fixture(scope="module")
def photos():
    return export.check_photos("", SIZE, 3)


@pytest.mark.parametrize("input_size", [None, SIZE])
def test_saved_model_round_trip_and_uint8_signature(tmp_path, generator, photos, input_size):
    result = export.export_saved_model(generator, tmp_path, photos, input_size)
    assert result.percentile_difference <= export.TOLERANCES["saved_model"][0]
    stylizer = load_stylizer(result.path)
    assert stylizer.fixed_size == (None if input_size is None else (SIZE, SIZE))
    if input_size is None:  # any size that is a multiple of 4
        assert stylizer(np.zeros((1, 48, 40, 3), np.float32)).shape == (1, 48, 40, 3)

    # The SavedModel load_stylizer loaded (a second tf.saved_model.load: ~2 s of CPU each).
    uint8 = stylizer._keep.signatures["serving_uint8"]  # pylint: disable=protected-access
    pixels = np.round((photos + 1) * 127.5).astype(np.uint8)
    out = uint8(images=pixels)["stylised"].numpy()
    expected = np.round((np.asarray(generator(pixels / 127.5 - 1.0)) + 1) * 127.5)
    assert out.dtype == np.uint8 and np.abs(out.astype(float) - expected).max() <= 1


@pytest.mark.parametrize("quantize, input_size", [
    ("none", None), ("float16", SIZE), ("dynamic_int8", None), ("int8", SIZE)])
def test_tflite_round_trips_within_tolerance(tmp_path, generator, photos, quantize, input_size):
    result = export.export_tflite(generator, tmp_path, quantize, photos, input_size,
                                  representative_images=photos)
    assert result.path.is_file() and result.size_bytes == result.path.stat().st_size
    percentile, mean = export.TOLERANCES[quantize]
    # see above
    assert result.percentile_difference <= percentile and result.mean_difference <= mean
    stylizer = load_stylizer(result.path)
    assert stylizer(photos).shape == photos.shape
    if input_size is None:
        assert stylizer(np.zeros((1, 40, 48, 3), np.float32)).shape == (1, 40, 48, 3)
    assert list(tmp_path.iterdir()) == [result.path]  # no temporary file left


@pytest.mark.parametrize("quantize", ["none", "float16"])
def test_a_generator_ending_in_the_output_filter_exports_within_tolerance(tmp_path, photos, quantize):
    """The guided filter's box means are TFLite AVERAGE_POOL_2D with SAME padding, which averages
    over the pixels inside the image as Keras' average_pool does (a border counted as zeros would
    darken the edges far past the tolerance)."""
    filtered = build_generator("animegan_v2", output_filter=(3, 0.01))
    result = export.export_tflite(filtered, tmp_path, quantize, photos)
    percentile, mean = export.TOLERANCES[quantize]
    assert result.percentile_difference <= percentile and result.mean_difference <= mean


def test_float16_is_half_the_size_of_float32(tmp_path, generator, photos):
    full = export.export_tflite(generator, tmp_path, "none", photos)
    half = export.export_tflite(generator, tmp_path, "float16", photos)
    assert 0.4 < half.size_bytes / full.size_bytes < 0.6


def test_parity_is_a_high_percentile_and_the_mean():
    difference = np.zeros(2000)
    difference[0] = 1.0  # one value far off: the largest, not the 99.9th percentile
    exported = np.linspace(-1, 1, 2000) + difference
    largest, percentile, mean = export.parity(exported, np.linspace(-1, 1, 2000))
    assert largest == pytest.approx(1.0) and mean == pytest.approx(1.0 / 2000)
    # numpy's linear interpolation: rank 0.999 * 1999 = 1997.0 of the sorted differences, between
    # sorted values 1997 and 1998, both 0 (the 1.0 is value 1999).
    assert percentile == pytest.approx(0.0, abs=1e-12)
    difference[3:10] = 0.25  # now 10 values (0.5 %) are off: the percentile sees them
    assert export.parity(difference, np.zeros(2000))[1] == pytest.approx(0.25)
    assert np.isnan(export.parity(np.array([0.0, np.nan]), np.zeros(2)))[1:].all()


def _spiking(monkeypatch, count, size):
    """Exported files load as themselves plus ``size`` added to the first ``count`` values of the
    first check image's output."""
    load = export.load_stylizer

    def load_spiked(path):
        stylizer, calls = load(path), []

        def run(images):
            out = np.array(stylizer(images))
            if not calls:
                out.reshape(-1)[:count] += size
            calls.append(images)
            return out
        return run
    monkeypatch.setattr(export, "load_stylizer", load_spiked)


def test_a_few_far_pixels_pass_and_many_are_refused(tmp_path, generator, photos, monkeypatch):
    """Issue 26 item 8: a float16 export was refused by one pixel (largest 0.0502 of a bound of
    0.05, mean 0.0023). Six values of 3 x 32 x 32 x 3 off by 0.5 are under 0.1 %: the check passes them
    and records the largest; 1 % of the values off by as much is refused."""
    _spiking(monkeypatch, 6, 0.5)
    result = export.export_tflite(generator, tmp_path, "float16", photos)
    assert result.max_difference > 0.5 and result.path.is_file()
    assert result.percentile_difference <= export.TOLERANCES["float16"][0]
    passed = result.path.read_bytes()
    _spiking(monkeypatch, photos[0].size // 100, 0.5)
    with pytest.raises(export.ExportDriftError, match=r"at the 99.9th percentile"):
        export.export_tflite(generator, tmp_path, "float16", photos)
    assert list(tmp_path.iterdir()) == [result.path] and result.path.read_bytes() == passed


@pytest.mark.parametrize("quantize", ["none", "float16"])
def test_an_export_with_one_layer_wrong_is_refused(tmp_path, generator, photos, monkeypatch,
                                                   quantize):
    """A broken conversion: the file is converted from the (v1, random) generator with noise of
    10 % of its kernel's standard deviation added to one middle convolution (m_ir5_expand). That
    moves the 99.9th percentile and the mean far past the float16 bounds (export.TOLERANCES: 0.30 /
    0.039 at 64 to 256 px, 8x the mean bound; weight rounding is the same on every CPU), while the
    correct float16 file of the same generator passes (test_tflite_round_trips_within_tolerance)."""
    convert = export.tflite_bytes

    def convert_wrong(network, *args, **kwargs):
        wrong = keras.models.clone_model(network)
        wrong.set_weights(network.get_weights())
        kernel = wrong.get_layer("m_ir5_expand").kernel
        value = np.asarray(kernel)
        noise = np.random.default_rng(1).standard_normal(value.shape) * value.std() * 0.1
        kernel.assign(value + noise.astype(value.dtype))
        return convert(wrong, *args, **kwargs)

    monkeypatch.setattr(export, "tflite_bytes", convert_wrong)
    with pytest.raises(export.ExportDriftError, match="past its tolerance"):
        export.export_tflite(generator, tmp_path, quantize, photos)
    assert list(tmp_path.iterdir()) == []


def test_drifting_export_fails_and_keeps_the_earlier_file(tmp_path, generator, photos, monkeypatch):
    first = export.export_tflite(generator, tmp_path, "float16", photos)
    before = first.path.read_bytes()
    monkeypatch.setitem(export.TOLERANCES, "float16", (0.0, 0.0))
    with pytest.raises(export.ExportDriftError, match="past its tolerance"):
        export.export_tflite(generator, tmp_path, "float16", photos)
    assert first.path.read_bytes() == before
    assert sorted(p.name for p in tmp_path.iterdir()) == [first.path.name]


def test_int8_needs_fixed_size_and_photos(generator, photos, tmp_path):
    with pytest.raises(ValueError, match="fixed --input_size"):
        export.export_tflite(generator, tmp_path, "int8", photos, None, photos)
    with pytest.raises(ValueError, match="representative"):
        export.export_tflite(generator, tmp_path, "int8", photos, SIZE, None)


@pytest.mark.filterwarnings("ignore:Skipping nested container")
def test_files_that_are_not_generators_are_refused(tmp_path):
    dense = keras.Sequential([keras.Input((4,)), keras.layers.Dense(2)])
    dense.save(tmp_path / "dense.keras")
    with pytest.raises(ModelLoadError, match="dense.keras"):
        load_stylizer(tmp_path / "dense.keras")
    dense.save_weights(tmp_path / "dense.weights.h5")
    with pytest.raises(ModelLoadError, match="do not fit the AnimeGAN generator"):
        load_stylizer(tmp_path / "dense.weights.h5")
    (tmp_path / "broken.tflite").write_bytes(b"TFL3" + b"\0" * 100)
    with pytest.raises(ModelLoadError, match="broken.tflite"):
        load_stylizer(tmp_path / "broken.tflite")
    (tmp_path / "empty_dir").mkdir()
    with pytest.raises(ModelLoadError, match="neither generator.weights.h5"):
        load_stylizer(tmp_path / "empty_dir")
    with pytest.raises(FileNotFoundError):
        load_stylizer(tmp_path / "missing.tflite")


def test_truncated_tflite_is_refused(tmp_path, generator, photos):
    result = export.export_tflite(generator, tmp_path, "float16", photos)
    truncated = tmp_path / "truncated.tflite"
    truncated.write_bytes(result.path.read_bytes()[: result.size_bytes // 3])
    with pytest.raises(ModelLoadError, match="truncated.tflite"):
        load_stylizer(truncated)


def test_failed_write_leaves_no_partial_file(tmp_path, generator, photos, monkeypatch):
    monkeypatch.setattr(export, "tflite_bytes", lambda *args, **kwargs: b"\0" * 1000)
    real_write_bytes = pathlib.Path.write_bytes

    def disk_full(path, data):
        real_write_bytes(path, data[:len(data) // 2])
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(pathlib.Path, "write_bytes", disk_full)
    with pytest.raises(OSError, match="No space left"):
        export.export_tflite(generator, tmp_path, "none", photos)
    assert list(tmp_path.iterdir()) == []


@pytest.fixture(scope="module")
def run_export():
    """`run_export(*flags)`: export.py with `flags`, as its own command would run it (exit status,
    stdout, stderr); the module's nine runs share one child process (`tests.helpers.ScriptRuns`),
    which imports TensorFlow once instead of nine times (about 10 s of CPU each), and converts
    the generator's weights to a TFLite setting once, not in each of the three runs that export
    the same file (tests/export_memo.py)."""
    runs = ScriptRuns("export.py", REPO, setup="tests.export_memo")
    yield runs
    runs.close()


def test_cli_bad_model_or_output_fail_clearly_and_write_nothing(tmp_path, generator, run_export):
    generator.save_weights(tmp_path / "generator.weights.h5")
    dense = keras.Sequential([keras.Input((4,)), keras.layers.Dense(2)])
    dense.save_weights(tmp_path / "dense.weights.h5")
    (tmp_path / "cut.tflite").write_bytes(b"TFL3" + b"\0" * 64)
    (tmp_path / "file.txt").write_text("a file where a folder should be")
    inputs = sorted(path.name for path in tmp_path.iterdir())
    out = tmp_path / "out"
    cases = [  # (model, output_dir, what stderr must say)
        ("dense.weights.h5", out, "dense.weights.h5: weights do not fit the AnimeGAN generator"),
        ("cut.tflite", out, "cut.tflite: not a readable TFLite model"),
        ("generator.weights.h5", tmp_path / "file.txt" / "exports",
         f"--output_dir: cannot write into {tmp_path / 'file.txt' / 'exports'}"),
    ]
    for model, output_dir, message in cases:
        result = run_export(f"--model_dir={tmp_path / model}", f"--output_dir={output_dir}",
                             "--formats=tflite", "--quantize=none")
        assert result.returncode != 0 and message in result.stderr, (model, result.stderr[-2000:])
        assert "Traceback" not in result.stderr
    assert sorted(path.name for path in tmp_path.iterdir()) == inputs


def test_cli_exports_and_records_where_the_files_came_from(tmp_path, generator, run_export):
    from animegan_face.config import Config, ModelConfig, TrainConfig
    from animegan_face.deployment.provenance import sha256

    run = tmp_path / "run"
    run.mkdir()
    generator.save_weights(run / "generator.weights.h5")
    config = Config(model=ModelConfig(generator="animegan_v1", extractor_weights="none"),
                    train=TrainConfig(model_dir=str(run)))
    (run / "config.json").write_text(config.to_json())
    out = tmp_path / "out"
    result = run_export(f"--model_dir={run}", f"--output_dir={out}", "--formats=tflite",
                         "--quantize=none", f"--input_size={SIZE}")
    assert result.returncode == 0, result.stderr[-3000:]
    assert "random-weight content extractor" in result.stderr  # the demo-like run is flagged

    manifest = json.loads((out / "export_manifest.json").read_text())
    [entry] = manifest["exports"]
    assert entry["file"] == f"generator_{SIZE}_float32.tflite" and entry["input_size"] == SIZE
    assert entry["sha256"] == sha256(out / entry["file"])
    assert entry["p99.9_difference"] <= entry["tolerance"]["p99.9"]
    assert manifest["source"]["generator"]["sha256"] == sha256(run / "generator.weights.h5")
    assert Config.from_dict(manifest["source"]["training_run"]["config"]) == config
    assert manifest["source"]["extractors"]["content"]["weights"] == "none"
    assert manifest["software"]["tensorflow"]


def test_only_leftovers_export_py_recorded_as_started_are_removed(tmp_path):
    # What kill -9 during an export leaves (issue 26): removed only when export.py's record says
    # it started them; a user's files of the same shape of name are named and kept.
    owned = export.owned_outputs(tmp_path)
    leftovers = ["generator_float16.partial.tflite", "generator_256.partial.onnx"]
    for name in leftovers:
        owned.start(tmp_path / name)  # before the file exists, as export.py does
        (tmp_path / name).write_bytes(b"half written")
    for folder in ("saved_model.partial", "saved_model_256.old"):
        owned.start(tmp_path / folder)
        (tmp_path / folder / "variables").mkdir(parents=True)
    owned.start(tmp_path / "generator_none.partial.onnx")  # killed before the file was created
    users = ["generator_int8.partial.tflite", "saved_model_64.partial", "generator.onnx.old"]
    for name in users[:2]:
        (tmp_path / name).write_bytes(b"the user's own file")
    (tmp_path / "generator.onnx.old").mkdir()
    kept = ["generator_float16.tflite", "notes.partial.tflite", "saved_model", "mine.old"]
    for name in kept:
        (tmp_path / name).write_bytes(b"keep")
    # A record naming a path elsewhere (edited by hand, or crafted) is not followed.
    (tmp_path.parent / "elsewhere.old").write_bytes(b"outside the output folder")
    record = json.loads((tmp_path / export.RECORD).read_text())
    record["generator.onnx.old/../../elsewhere.old"] = ["started"]
    (tmp_path / export.RECORD).write_text(json.dumps(record))
    removed, named = export.remove_partial_leftovers(tmp_path, export.owned_outputs(tmp_path))
    assert removed == sorted(leftovers + ["saved_model.partial", "saved_model_256.old"])
    assert named == sorted(users)
    assert sorted(os.listdir(tmp_path)) == sorted(kept + users + [export.RECORD])
    assert (tmp_path.parent / "elsewhere.old").exists()
    assert export.owned_outputs(tmp_path).started_names() == []  # the record forgets them


def test_a_user_file_under_a_temporary_name_stops_the_export_untouched(tmp_path, generator,
                                                                       photos):
    partial = tmp_path / f"generator_{SIZE}_float32.partial.tflite"
    partial.write_bytes(b"the user's own file")
    with pytest.raises(ValueError, match=f"{partial.name} exists, and export.py's record"):
        export.export_tflite(generator, tmp_path, "none", photos, SIZE,
                             owned=export.owned_outputs(tmp_path))
    assert partial.read_bytes() == b"the user's own file"
    assert not (tmp_path / f"generator_{SIZE}_float32.tflite").exists()


def test_anything_under_an_output_name_is_replaced_whole(tmp_path, generator, photos):
    """Issue 26: with --overwrite a file where the SavedModel folder goes, a folder where a .tflite
    file goes, and a link to a folder of the user's are replaced; a link's target is left alone."""
    out, theirs = tmp_path / "out", tmp_path / "theirs"
    out.mkdir()
    (theirs / "variables").mkdir(parents=True)
    (out / f"saved_model_{SIZE}").write_bytes(b"a file, not a SavedModel")
    (out / f"generator_{SIZE}_float32.tflite" / "sub").mkdir(parents=True)
    os.symlink(theirs, out / f"generator_{SIZE}_float16.tflite")
    owned = export.owned_outputs(out)
    results = [export.export_saved_model(generator, out, photos, SIZE, owned=owned),
               export.export_tflite(generator, out, "none", photos, SIZE, owned=owned),
               export.export_tflite(generator, out, "float16", photos, SIZE, owned=owned)]
    for result in results:
        assert not result.path.is_symlink()
        assert load_stylizer(result.path)(photos[:1]).shape == (1, SIZE, SIZE, 3)
        assert owned.refusal(result.path) is None  # recorded as export.py's own
    assert results[0].path.is_dir() and results[1].path.is_file()
    assert (theirs / "variables").is_dir()
    assert sorted(os.listdir(out)) == sorted([export.RECORD] + [r.path.name for r in results])


def test_cli_refuses_files_it_did_not_write_and_replaces_its_own(tmp_path, generator, run_export):
    """Issue 26: a user's files under output names (the TFLite file, the manifest) are refused
    before any conversion, named, and left as they were (a killed export's partial file too);
    --overwrite replaces them; a rerun replaces export.py's own outputs without it."""
    from animegan_face.deployment.provenance import sha256

    weights = tmp_path / "generator.weights.h5"
    generator.save_weights(weights)
    out = tmp_path / "out"
    out.mkdir()
    name = f"generator_{SIZE}_float32.tflite"
    partial = f"generator_{SIZE}_float32.partial.tflite"
    export.owned_outputs(out).start(out / partial)  # as export.py does before writing it
    before = {name: b"the user's own model", "export_manifest.json": b'{"mine": true}',
              partial: b"left by a killed export"}
    for file, data in before.items():
        (out / file).write_bytes(data)
    before[export.RECORD] = (out / export.RECORD).read_bytes()
    flags = [f"--model_dir={weights}", f"--output_dir={out}", "--formats=tflite",
             "--quantize=none", f"--input_size={SIZE}"]
    refused = run_export(*flags)
    assert refused.returncode != 0 and "Traceback" not in refused.stderr
    for file in (name, "export_manifest.json"):
        assert f"the output {file} exists and was not written by export.py" in refused.stderr
    assert {path.name: path.read_bytes() for path in out.iterdir()} == before

    replaced = run_export(*flags, "--overwrite")
    assert replaced.returncode == 0, replaced.stderr[-3000:]
    assert sorted(os.listdir(out)) == [".export_outputs.json", "export_manifest.json", name]
    [entry] = json.loads((out / "export_manifest.json").read_text())["exports"]
    assert entry["file"] == name and entry["sha256"] == sha256(out / name)
    assert load_stylizer(out / name)(np.zeros((1, SIZE, SIZE, 3), np.float32)).shape == (1, SIZE, SIZE, 3)

    inodes = {file: (out / file).stat().st_ino for file in (name, "export_manifest.json")}
    rerun = run_export(*flags)
    assert rerun.returncode == 0, rerun.stderr[-3000:]
    # Both were written again (a rename gives a new inode), though the bytes may be the same.
    assert all((out / file).stat().st_ino != inode for file, inode in inodes.items())


def test_cli_overwrite_replaces_a_file_named_like_the_saved_model(tmp_path, generator, run_export):
    """Issue 26: --overwrite with a plain file where the SavedModel folder goes replaced nothing
    and ended in a traceback. Now the file is replaced; a user's file under the temporary name
    stops the run first, even with --overwrite, and a leftover-like name not in the record is
    only named."""
    weights = tmp_path / "generator.weights.h5"
    generator.save_weights(weights)
    out = tmp_path / "out"
    out.mkdir()
    final = out / f"saved_model_{SIZE}"
    final.write_bytes(b"the user's file")
    users_partial = out / f"saved_model_{SIZE}.partial"
    users_partial.write_bytes(b"the user's other file")
    flags = [f"--model_dir={weights}", f"--output_dir={out}", "--formats=saved_model",
             f"--input_size={SIZE}", "--overwrite"]
    refused = run_export(*flags)
    assert refused.returncode != 0 and "Traceback" not in refused.stderr
    assert f"{users_partial.name} exists, and export.py's record" in refused.stderr
    assert final.read_bytes() == b"the user's file"
    assert users_partial.read_bytes() == b"the user's other file"

    users_partial.rename(out / "saved_model_8.partial")  # no longer in this export's way
    replaced = run_export(*flags)
    assert replaced.returncode == 0 and "Traceback" not in replaced.stderr, replaced.stderr[-3000:]
    assert "saved_model_8.partial looks like a leftover of a killed export" in replaced.stderr
    assert (out / "saved_model_8.partial").read_bytes() == b"the user's other file"
    assert final.is_dir() and load_stylizer(final)(np.zeros((1, SIZE, SIZE, 3), np.float32)).shape == (
        1, SIZE, SIZE, 3)


def test_a_saved_model_folder_is_recorded_as_export_py_own(tmp_path, generator, photos):
    from animegan_face.deployment.outputs import OwnedOutputs

    def owned():
        return OwnedOutputs(tmp_path, "export.py", ".export_outputs.json", folders=True)

    result = export.export_saved_model(generator, tmp_path, photos, SIZE, owned=owned())
    assert result.path.is_dir() and owned().refusal(result.path) is None
    (result.path / "user_notes.txt").write_text("added by hand")  # now it is the user's
    assert "was not written by export.py" in owned().refusal(result.path)
