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
