"""training/loop.py: phases, running means, sync before the epoch's end, resume from the counters."""

import itertools

import keras
import pytest

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
