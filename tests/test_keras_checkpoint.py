"""The backend-neutral training checkpoint: round trip, atomic saves, pruning, wrong shapes."""

import json

import keras
import numpy as np
import pytest

from animegan_face.training.keras_checkpoint import KerasCheckpoint


def _model_and_optimizer(seed):
    keras.utils.set_random_seed(seed)
    model = keras.Sequential([keras.Input((3,)), keras.layers.Dense(2), keras.layers.BatchNormalization()])
    optimizer = keras.optimizers.Adam(1e-3)
    optimizer.build(model.trainable_variables)
    # One update, so that the moments and the step counter are not their initial values.
    optimizer.apply_gradients([(np.ones(v.shape, np.float32), v) for v in model.trainable_variables])
    return model, optimizer


def test_round_trip_restores_models_optimizers_and_counters(tmp_path):
    model, optimizer = _model_and_optimizer(0)
    saved = KerasCheckpoint(tmp_path, {"net": model}, {"adam": optimizer})
    path = saved.save(epoch=4, step=40)
    assert path.name == "keras-ckpt-4" and saved.latest == path
    assert sorted(p.name for p in path.iterdir()) == ["adam.npz", "counters.json", "net.weights.h5"]

    other, other_optimizer = _model_and_optimizer(1)
    assert not np.array_equal(np.array(other.weights[0]), np.array(model.weights[0]))
    restored = KerasCheckpoint(tmp_path, {"net": other}, {"adam": other_optimizer})
    assert restored.restore(restored.latest) == (4, 40)
    for a, b in zip(model.weights + optimizer.variables, other.weights + other_optimizer.variables):
        np.testing.assert_array_equal(np.array(a), np.array(b))


def test_unfinished_save_is_ignored_and_old_ones_pruned(tmp_path):
    model, optimizer = _model_and_optimizer(0)
    checkpoint = KerasCheckpoint(tmp_path, {"net": model}, {"adam": optimizer}, max_to_keep=2)
    for epoch in (1, 2, 3):
        checkpoint.save(epoch, epoch * 10)
    (tmp_path / "keras-ckpt-4.partial").mkdir()  # a save killed half-way
    assert sorted(p.name for p in tmp_path.iterdir()) == [
        "keras-ckpt-2", "keras-ckpt-3", "keras-ckpt-4.partial"]
    assert checkpoint.latest.name == "keras-ckpt-3"
    assert json.loads((checkpoint.latest / "counters.json").read_text()) == {"epoch": 3, "step": 30}
    assert KerasCheckpoint(tmp_path / "none", {}, {}).latest is None


def test_optimizer_of_another_shape_is_refused(tmp_path):
    model, optimizer = _model_and_optimizer(0)
    path = KerasCheckpoint(tmp_path, {}, {"adam": optimizer}).save(1, 1)
    wider = keras.Sequential([keras.Input((3,)), keras.layers.Dense(5), keras.layers.BatchNormalization()])
    adam = keras.optimizers.Adam(1e-3)
    adam.build(wider.trainable_variables)
    with pytest.raises(ValueError, match="shape"):
        KerasCheckpoint(tmp_path, {}, {"adam": adam}).restore(path)
