"""training/loop.py: phases, running means, sync before the epoch's end, resume from the counters;
the compute precision of a run (bfloat16 on a CPU that only emulates it is named, not silent)."""

import dataclasses
import itertools

import keras
import numpy as np
import pytest

from animegan_face.config import Config, TrainConfig
from animegan_face.training import loop
from animegan_face.training.callbacks import Counters
from animegan_face.training.loop import EpochLogs, Steps, run_epochs


class _FakeSteps(Steps):
    """Logs {"loss": batch, "phase": tag}; records every call in `events`."""

    def __init__(self, tag, events):
        self.tag, self.events = tag, events

    def __call__(self, batch):
        self.events.append(("step", self.tag, batch))
        return {"loss": batch, "phase": self.tag}

    def fetch(self, logs):
        self.events.append(("fetch", self.tag, logs["loss"]))
        return {name: float(value) for name, value in logs.items()}

    def sync(self):
        self.events.append(("sync", self.tag))


class _Recorder(keras.callbacks.Callback):
    def __init__(self, counters, events):
        super().__init__()
        self.counters, self.events = counters, events

    def on_train_batch_end(self, batch, logs=None):
        self.counters.step += 1
        self.events.append(("batch_end", batch, dict(logs)))

    def on_epoch_end(self, epoch, logs=None):
        self.counters.epoch = epoch + 1
        self.events.append(("epoch_end", epoch, dict(logs)))


def _run(counters, total_epochs=3, warmup_epochs=1, steps=2):
    events = []
    phases = ((_FakeSteps(0, events), warmup_epochs), (_FakeSteps(1, events), total_epochs))
    done = run_epochs(phases, itertools.count(1), counters, total_epochs, steps,
                      [_Recorder(counters, events)], verbose=0)
    return done, events


def test_phases_in_turn_with_running_means_and_sync_before_the_epoch_end():
    counters = Counters()
    done, events = _run(counters)
    assert done == 3 and (counters.epoch, counters.step) == (3, 6)
    epoch_ends = [event for event in events if event[0] == "epoch_end"]
    # Batches 1, 2 (warm-up), then 3, 4 and 5, 6 (GAN): each epoch's means restart.
    assert [(epoch, logs["loss"], logs["phase"]) for _, epoch, logs in epoch_ends] == [
        (0, 1.5, 0.0), (1, 3.5, 1.0), (2, 5.5, 1.0)]
    batch_ends = [(event[1], event[2]["loss"]) for event in events if event[0] == "batch_end"]
    assert batch_ends == [(0, 1.0), (1, 1.5), (0, 3.0), (1, 3.5), (0, 5.0), (1, 5.5)]
    # The state is synced (JAX: written back) after the last step, before the epoch-end callbacks.
    for index, event in enumerate(events):
        if event[0] == "epoch_end":
            assert events[index - 1][0] == "sync"


def test_a_step_is_started_before_the_previous_ones_logs_are_read():
    _, events = _run(Counters(), total_epochs=1, warmup_epochs=0, steps=3)
    calls = [(event[0], event[2]) for event in events if event[0] in ("step", "fetch")]
    assert calls == [("step", 1), ("step", 2), ("fetch", 1), ("step", 3), ("fetch", 2), ("fetch", 3)]


def test_resume_starts_at_the_counters_epoch_and_skips_finished_phases():
    counters = Counters(epoch=2, step=4)
    done, events = _run(counters)
    assert done == 3 and (counters.epoch, counters.step) == (3, 6)
    assert {event[1] for event in events if event[0] == "step"} == {1}  # no warm-up step
    assert [event[1] for event in events if event[0] == "epoch_end"] == [2]
    # Nothing to do when all epochs are done.
    done, events = _run(Counters(epoch=3, step=6))
    assert done == 3 and events == []


def test_epoch_logs_are_running_means():
    logs = EpochLogs()
    logs.add({"a": 1.0, "b": 4.0})
    logs.add({"a": 3.0, "b": 0.0})
    assert logs.means() == pytest.approx({"a": 2.0, "b": 2.0})


_AVX2_ONLY = "processor\t: 0\nflags\t\t: fpu sse2 avx avx2 fma\n\nprocessor\t: 1\nflags\t\t: fpu avx2\n"
_WITH_BF16 = "processor\t: 0\nflags\t\t: fpu avx2 avx512f avx512_bf16\n"


@pytest.mark.parametrize("text, expected", [(_AVX2_ONLY, False), (_WITH_BF16, True),
                                            ("no flags line\n", None)])
def test_cpu_bfloat16_support_is_read_from_the_flags(tmp_path, text, expected):
    cpuinfo = tmp_path / "cpuinfo"
    cpuinfo.write_text(text)
    assert loop.cpu_has_native_bfloat16(str(cpuinfo)) is expected


def test_missing_cpuinfo_is_unknown(tmp_path):
    assert loop.cpu_has_native_bfloat16(str(tmp_path / "absent")) is None


@pytest.mark.parametrize("native, warned", [(False, True), (True, False), (None, False)])
def test_bfloat16_on_an_emulating_cpu_warns_and_still_sets_the_policy(monkeypatch, capsys, native,
                                                                      warned):
    monkeypatch.setattr(loop, "cpu_has_native_bfloat16", lambda: native)
    config = dataclasses.replace(Config(), train=TrainConfig(mixed_precision="bfloat16"))
    try:
        loop.set_precision_policy(config)
        assert keras.mixed_precision.global_policy().name == "mixed_bfloat16"
    finally:
        keras.mixed_precision.set_global_policy("float32")
    assert ("AVX512_BF16" in capsys.readouterr().err) is warned



@pytest.mark.parametrize("native, gpu, policy", [(True, False, "mixed_bfloat16"),
                                                 (False, False, "float32"),
                                                 (False, True, "mixed_bfloat16")])
def test_auto_precision_follows_the_hardware_and_says_what_it_chose(monkeypatch, capsys, native,
                                                                    gpu, policy):
    monkeypatch.setattr(loop, "cpu_has_native_bfloat16", lambda: native)
    monkeypatch.setattr(loop, "has_gpu", lambda: gpu)
    config = dataclasses.replace(Config(), train=TrainConfig(mixed_precision="auto"))
    try:
        chosen = loop.set_precision_policy(config)
        assert keras.mixed_precision.global_policy().name == policy
    finally:
        keras.mixed_precision.set_global_policy("float32")
    assert chosen == {"float32": "off", "mixed_bfloat16": "bfloat16"}[policy]
    assert f"--mixed_precision=auto: {policy}" in capsys.readouterr().err
    assert not isinstance(loop.make_adam(1e-4, config), keras.optimizers.LossScaleOptimizer)

def _tiny_state(seed):
    """A generator and a discriminator (small Dense models) and three built Adams."""
    keras.utils.set_random_seed(seed)
    networks = [keras.Sequential([keras.Input((3,)), keras.layers.Dense(2)]) for _ in range(2)]
    optimizers = [keras.optimizers.Adam(1e-3) for _ in range(3)]
    for optimizer, network in zip(optimizers, networks + networks[:1]):
        optimizer.build(network.trainable_variables)
    return networks, optimizers


def _weights(network):
    return [np.array(w) for w in network.weights]


def test_resume_takes_the_latest_checkpoint_before_init_from_and_init_from_before_nothing(tmp_path):
    from animegan_face.training.keras_checkpoint import training_checkpoint
    from animegan_face.training.run_folder import RunFolder

    run = RunFolder(tmp_path / "run")
    config = dataclasses.replace(Config(), train=TrainConfig(init_epochs=2))
    networks, optimizers = _tiny_state(0)
    fresh = _weights(networks[0])
    checkpoint = training_checkpoint(run.checkpoints_dir, *networks, *optimizers)
    # Nothing to resume from: a new run, the weights as drawn.
    assert loop.resume(run, checkpoint, config, steps=5) == (None, 0, 0)
    assert all(np.array_equal(a, b) for a, b in zip(_weights(networks[0]), fresh))

    # --init_from: its generator, the warm-up counted as done (2 epochs of 5 steps).
    source, _ = _tiny_state(1)
    source[0].save_weights(tmp_path / "generator.weights.h5")
    config = dataclasses.replace(config, train=dataclasses.replace(
        config.train, init_from=str(tmp_path)))
    assert loop.resume(run, checkpoint, config, steps=5) == (None, 2, 10)
    assert all(np.array_equal(a, b) for a, b in zip(_weights(networks[0]), _weights(source[0])))

    # A checkpoint of the run wins over --init_from, with its own counters.
    saved, saved_optimizers = _tiny_state(2)
    training_checkpoint(run.checkpoints_dir, *saved, *saved_optimizers).save(3, 17)
    latest, epoch, step = loop.resume(run, checkpoint, config, steps=5)
    assert (latest, epoch, step) == (run.checkpoints_dir / "keras-ckpt-3", 3, 17)
    for network, want in zip(networks, saved):
        assert all(np.array_equal(a, b) for a, b in zip(_weights(network), _weights(want)))
