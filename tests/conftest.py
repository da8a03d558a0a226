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



# The modules holding the slowest tests of `make test` (--durations on the 2-core machine), by their
# slowest test: they run first, so that pytest-xdist's two workers end on short tests and finish
# together. In collection order the longest tests came late (test_trainer, test_training), and
# xdist queues up to three tests on a worker ahead of time, so one worker could run a 3-minute test
# and those queued behind it while the other sat idle. Whole modules move, in their own order, so a
# module-wide fixture is still built once per worker (test_export's conversions, for one). Only
# the order changes; tests/test_suite_order.py checks that every module named here exists.
SLOWEST_MODULES_FIRST = (
    "test_jax_backend.py",  # TF -> JAX -> TF continuation, JAX train/resume, float64 pair: 200-300 s each
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
