"""Shared test setup: quiet TensorFlow, deterministic seeds, small generated data, and nothing read
from the machine's own Keras folder."""

import atexit
import os
import shutil
import tempfile

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
# An empty Keras home for this test process and the processes it starts (set before Keras is
# imported, which reads it once): keras.json (backend, floatx) and the weights cache in
# ~/.keras/models of the machine at hand would otherwise decide what a test sees. A test that needs
# a cached weights file writes it into a KERAS_HOME of its own (tests/test_pretrained.py).
_KERAS_HOME = tempfile.mkdtemp(prefix="animegan-test-keras-home-")
os.environ["KERAS_HOME"] = _KERAS_HOME
atexit.register(shutil.rmtree, _KERAS_HOME, ignore_errors=True)

import keras  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402

_SEED = 1234


@pytest.hookimpl(hookwrapper=True)
def pytest_fixture_setup(fixturedef, request):
    """Seeds before every module- or session-wide fixture too: such a fixture is built by whichever
    test needs it first in a worker process, which with pytest-xdist depends on how the tests were
    shared out, and would otherwise draw its random weights from whatever state that test left."""
    if fixturedef.scope != "function":
        keras.utils.set_random_seed(_SEED)
    yield


@pytest.fixture(autouse=True)
def _seed():
    keras.utils.set_random_seed(_SEED)


@pytest.fixture
def rng():
    return np.random.default_rng(0)


@pytest.fixture(scope="session")
def random_generator():
    """`random_generator(architecture)`: one random-weight generator per architecture for the whole
    test process, drawn right after seeding, so it holds the weights a test's own
    `build_generator(architecture)` drew first thing. Shared by the export tests (test_export,
    test_gpu_compatibility, test_tflite_graph), which only convert and run it: nothing may change
    its weights."""
    built = {}

    def get(architecture="animegan_v1"):
        if architecture not in built:
            from animegan_face.models.networks import build_generator

            keras.utils.set_random_seed(_SEED)
            built[architecture] = build_generator(architecture)
        return built[architecture]

    get.built = built
    return get


@pytest.fixture(scope="session")
def _exports_made(tmp_path_factory):
    """What `export_each_shared_generator_once` made: {key: TFLite bytes, a folder written once, or
    Keras' outputs}, and the folder that the written folders lie in."""
    return {}, tmp_path_factory.mktemp("exports_made")


@pytest.fixture
def export_each_shared_generator_once(monkeypatch, random_generator, _exports_made):
    """The export steps that depend only on a `random_generator` network and their arguments run
    once per test process for each such network: test_export, test_gpu_compatibility and
    test_tflite_graph ask for the same ones again and again, and test_export repeats them only to
    check what the export does around them (claiming names, the parity check, the record, the
    rename into place), which still runs every time. Each is still done for real once, by the
    first test that asks; any other network, and a test's own patch, goes through as before. The
    three modules share one pytest-xdist group (`make test`: --dist loadgroup), so one worker makes
    each once. The steps:

    - export.tflite_bytes, a conversion (15-30 s each on the 2-core machine, bench/RESULTS.md
      "Test suite"), per quantisation, input size and int8's representative images; the bytes are
      immutable;
    - its input, a batch-1 SavedModel of the network's TFLite graph (export._write_converter_input,
      about half of a conversion's 7 s of CPU), per input size: float32, float16 and dynamic int8
      of one size read copies of one folder;
    - export.write_saved_model, the SavedModel users load (~6 s), per input size, copied;
    - export.keras_outputs, the Keras generator on the check images that every export is compared
      with (~1 s eagerly for three 32 px images), per images; returned as a copy."""
    import shutil

    from animegan_face.deployment import export

    made, root = _exports_made

    def shared(network):
        return any(network is one for one in random_generator.built.values())

    def written_once(write, name):
        def write_once(network, folder, input_size):
            if not shared(network):
                return write(network, folder, input_size)
            key = (name, id(network), input_size)
            if key not in made:
                made[key] = root / f"{len(made)}"
                write(network, made[key], input_size)
            shutil.copytree(made[key], folder, dirs_exist_ok=True)
        return write_once

    monkeypatch.setattr(export, "_write_converter_input",
                        written_once(export._write_converter_input,  # pylint: disable=protected-access
                                     "converter_input"))
    monkeypatch.setattr(export, "write_saved_model",
                        written_once(export.write_saved_model, "saved_model"))

    convert = export.tflite_bytes

    def tflite_bytes(network, quantize, input_size=None, representative_images=None):
        if not shared(network):
            return convert(network, quantize, input_size, representative_images)
        # Only int8 reads the representative images (export.tflite_bytes calibrates with them).
        key = ("tflite", id(network), quantize, input_size, np.asarray(representative_images).tobytes()
               if quantize == "int8" and representative_images is not None else None)
        if key not in made:
            made[key] = convert(network, quantize, input_size, representative_images)
        return made[key]

    monkeypatch.setattr(export, "tflite_bytes", tflite_bytes)

    keras_outputs = export.keras_outputs

    def keras_outputs_once(network, check_images):
        if not shared(network):
            return keras_outputs(network, check_images)
        images = np.asarray(check_images)
        key = ("keras_outputs", id(network), images.shape, str(images.dtype), images.tobytes())
        if key not in made:
            made[key] = keras_outputs(network, check_images)
        return made[key].copy()

    monkeypatch.setattr(export, "keras_outputs", keras_outputs_once)


# The modules holding the slowest tests of `make test` (--durations on the 2-core machine), by their
# slowest test: they run first, so that pytest-xdist's two workers end on short tests and finish
# together. In collection order the longest tests came late (test_trainer, test_training), and
# xdist queues up to three tests on a worker ahead of time, so one worker could run a 3-minute test
# and those queued behind it while the other sat idle. Whole modules move, in their own order, so a
# module-wide fixture is still built once per worker (test_export's conversions, for one). Only
# the order changes; tests/test_suite_order.py checks that every module named here exists.
SLOWEST_MODULES_FIRST = (
    "test_jax_backend.py",  # its JAX runs' fixture ~70 s alone, the float64 pair ~80 s
    "test_faults.py",  # kill -9 and resume ~190 s
    "test_multi_worker.py",  # two train.py workers ~190 s
    "test_training.py",  # train/resume end to end ~185 s
    "test_trainer.py",  # one vs two replicas ~160 s
    "test_diagnostics.py",  # diagnose.py children ~90 s each
    "test_export.py",  # TFLite conversions, export.py children: 30-75 s each
    "test_gpu_compatibility.py",
    "test_evaluation.py",
    "test_animeganv2_weights.py",
    "test_bench_scripts.py",
    "test_tflite_graph.py",
)


def pytest_collection_modifyitems(items):
    """Puts the SLOWEST_MODULES_FIRST modules' tests first, module by module in that order; the
    order inside a module and of the other modules stays. Deterministic, so every pytest-xdist
    worker collects the same list."""
    rank = {name: index for index, name in enumerate(SLOWEST_MODULES_FIRST)}
    items.sort(key=lambda item: rank.get(os.path.basename(item.location[0]), len(rank)))
