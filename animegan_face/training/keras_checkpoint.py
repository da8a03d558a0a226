"""Full training state in Keras' own file formats, the one checkpoint format of both backends.

checkpoints/keras-ckpt-N/        state after epoch N
    <model>.weights.h5           each network (`Model.save_weights`: trainable and non-trainable
                                 weights, so the discriminator's spectral-norm vectors too)
    <optimizer>.npz              each optimizer's variables (`save_own_variables`: iterations,
                                 learning rate, moments)
    counters.json                {"epoch": N, "step": S}

Nothing in it depends on the backend that wrote it: a run saved under TensorFlow resumes under
JAX and back (`training_checkpoint` names the files of a training run). A checkpoint is written
into `keras-ckpt-N.partial/` and renamed once complete, so a kill during a save leaves the
previous checkpoint as the latest; only the last `max_to_keep` are kept. No TensorFlow here.
"""

import json
import os
import pathlib
import re
import shutil

import numpy as np

_NAME = re.compile(r"^keras-ckpt-(\d+)$")


class KerasCheckpoint:
    """Saves and restores named models and optimizers with an epoch and a step counter.

    Args:
        directory: the run's checkpoints/ folder.
        models: name -> keras.Model (built).
        optimizers: name -> keras optimizer (built, so that its variables exist).
        max_to_keep: completed checkpoints kept; older ones are deleted after a save.
    """

    def __init__(self, directory, models, optimizers, max_to_keep=3):
        self.directory = pathlib.Path(directory)
        self.models = dict(models)
        self.optimizers = dict(optimizers)
        self.max_to_keep = max_to_keep

    def _completed(self):
        """(epoch, path) of every complete checkpoint, oldest first."""
        if not self.directory.is_dir():
            return []
        found = []
        for path in self.directory.iterdir():
            match = _NAME.match(path.name)
            if match and path.is_dir():
                found.append((int(match.group(1)), path))
        return sorted(found)

    @property
    def latest(self):
        """Path of the newest complete checkpoint, or None."""
        completed = self._completed()
        return completed[-1][1] if completed else None

    @staticmethod
    def counters(path):
        """(epoch, step) recorded in checkpoint `path`, without loading anything else."""
        counters = json.loads((pathlib.Path(path) / "counters.json").read_text())
        return counters["epoch"], counters["step"]

    def save(self, epoch, step):
        """Writes the state as checkpoint `epoch`; returns its path."""
        self.directory.mkdir(parents=True, exist_ok=True)
        final = self.directory / f"keras-ckpt-{epoch}"
        partial = self.directory / f"keras-ckpt-{epoch}.partial"
        shutil.rmtree(partial, ignore_errors=True)
        partial.mkdir()
        for name, model in self.models.items():
            model.save_weights(partial / f"{name}.weights.h5")
        for name, optimizer in self.optimizers.items():
            store = {}
            optimizer.save_own_variables(store)
            np.savez(partial / f"{name}.npz", **store)
        (partial / "counters.json").write_text(json.dumps({"epoch": int(epoch), "step": int(step)}))
        shutil.rmtree(final, ignore_errors=True)
        os.replace(partial, final)
        for _, old in self._completed()[:-self.max_to_keep]:
            shutil.rmtree(old, ignore_errors=True)
        return final

    def restore(self, path):
        """Loads checkpoint `path` into the models and optimizers; returns (epoch, step)."""
        path = pathlib.Path(path)
        for name, model in self.models.items():
            model.load_weights(path / f"{name}.weights.h5")
        for name, optimizer in self.optimizers.items():
            with np.load(path / f"{name}.npz") as saved:
                store = {key: saved[key] for key in saved.files}
            if len(store) != len(optimizer.variables):
                raise ValueError(f"{path / name}.npz holds {len(store)} variables, the "
                                 f"{name} optimizer has {len(optimizer.variables)}")
            for index, variable in enumerate(optimizer.variables):
                value = store[str(index)]
                if tuple(value.shape) != tuple(variable.shape):
                    raise ValueError(f"{path / name}.npz variable {index} ({variable.path}) has "
                                     f"shape {value.shape}, expected {tuple(variable.shape)}")
                variable.assign(value)
        return self.counters(path)


def training_checkpoint(directory, generator, discriminator, init_optimizer, g_optimizer,
                        d_optimizer):
    """The `KerasCheckpoint` of a training run's full state, under the file names both backends
    read and write: generator, discriminator, init_optimizer, g_optimizer, d_optimizer."""
    return KerasCheckpoint(
        directory, models={"generator": generator, "discriminator": discriminator},
        optimizers={"init_optimizer": init_optimizer, "g_optimizer": g_optimizer,
                    "d_optimizer": d_optimizer})
